import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BerthError } from '../../core/errors.ts';
import { registryHosts } from '../../core/registry/hosts.ts';
import { check, type FuzzTarget, refusesOnlyWith } from './index.ts';

let root: string | undefined;

/** The certs.d directory the fuzzed hosts.toml is written into, as `_default/hosts.toml`. */
function configDir(): string {
  if (!root) {
    root = mkdtempSync(join(tmpdir(), 'berth-fuzz-hosts-'));
    mkdirSync(join(root, '_default'));
  }
  return root;
}

/**
 * hosts.toml: refused with BerthError, or every host is an http(s) endpoint with a host, an API
 * path, known capabilities and headers that cannot break a request line.
 */
export const target: FuzzTarget = {
  name: 'hosts',
  alsoCover: ['smol-toml'],
  maxLength: 2048,
  dictionary: [
    'server = "https://registry.example"\n',
    '[host."https://mirror.example:5000"]\n',
    '[host."http://127.0.0.1:5000/v2"]\n',
    'capabilities = ["pull", "resolve", "push"]\n',
    'skip_verify = true\n',
    'override_path = true\n',
    'dial_timeout = "1m30s"\n',
    '[header]\n',
    '[host."x".header]\n',
    'x-a = ["b", "c"]\n',
    'ca = "ca.pem"\n',
    'client = [["c.pem", "k.pem"]]\n',
    '"',
    '[',
    ']',
    '=',
    '\n',
    'http://',
    'https://',
    '..',
    '%2e%2e',
    '\\r\\n',
    '\\u0000',
    '@',
    '#',
    '?',
    '[::1]',
  ],
  fuzz(data) {
    const dir = configDir();
    writeFileSync(join(dir, '_default', 'hosts.toml'), data);
    const hosts = refusesOnlyWith(
      () => registryHosts('registry.example', {}, dir),
      (e) => e instanceof BerthError,
    );
    check(Object.keys(Object.prototype).length === 0, 'Object.prototype untouched');
    if (!hosts) return;
    check(hosts.length >= 1 && hosts.at(-1)!.mirror === false, 'the server comes last');
    for (const h of hosts) {
      check(h.scheme === 'http' || h.scheme === 'https', 'scheme is http or https', h.scheme);
      check(h.host !== '' && !/[\s/@?#]/.test(h.host), 'a host[:port]', h.host);
      check(h.path === '' || (h.path.startsWith('/') && !h.path.split('/').includes('..')), 'an absolute API path without ..', h.path);
      check([...h.capabilities].every((c) => c === 'pull' || c === 'resolve' || c === 'push') && h.capabilities.size > 0, 'known capabilities');
      for (const [name, values] of Object.entries(h.header)) {
        check(/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name), 'a header name', name);
        check(
          values.every((v) => !/[\r\n\0]/.test(v)),
          'header values of one line',
          values,
        );
      }
      check(
        h.tls.dialTimeoutMs === undefined || (Number.isFinite(h.tls.dialTimeoutMs) && h.tls.dialTimeoutMs >= 0),
        'a finite dial timeout',
        h.tls.dialTimeoutMs,
      );
    }
  },
  close() {
    if (root) rmSync(root, { recursive: true, force: true });
    root = undefined;
  },
};
