import { BerthError } from '../../core/errors.ts';
import { parseConfig } from '../../daemon/config.ts';
import { check, type FuzzTarget, refusesOnlyWith } from './index.ts';

const isTable = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStringList = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'string');

/** berthd's config.toml: refused with BerthError, or every setting has the type the daemon relies on. */
export const target: FuzzTarget = {
  name: 'config',
  alsoCover: ['smol-toml'],
  maxLength: 2048,
  dictionary: [
    'version = 2\n',
    'root = ',
    'state = ',
    '[grpc]\n',
    'address = ',
    '[debug]\n',
    'level = "debug"\n',
    'required_plugins = ',
    'disabled_plugins = ',
    '[plugins."io.containerd.snapshotter.v1.overlayfs"]\n',
    '[plugins]\n',
    '"',
    "'''",
    '"""',
    '[',
    ']',
    '[[',
    ']]',
    '{',
    '}',
    '=',
    '\n',
    '__proto__',
    '1979-05-27T07:32:00Z',
    '0x7f',
    '1e9',
    'inf',
    'nan',
    'true',
  ],
  fuzz(data) {
    const c = refusesOnlyWith(
      () => parseConfig(data.toString('utf8'), 'config.toml'),
      (e) => e instanceof BerthError,
    );
    check(Object.keys(Object.prototype).length === 0, 'Object.prototype untouched');
    if (!c) return;
    for (const k of ['root', 'state', 'address', 'logLevel'] as const) check(typeof c[k] === 'string', `${k} is a string`, c[k]);
    check(isStringList(c.required_plugins) && isStringList(c.disabled_plugins), 'the plugin lists are lists of strings');
    check(isTable(c.plugins), 'plugins is a table', c.plugins);
  },
};
