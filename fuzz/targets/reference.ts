import { BerthError } from '../../core/errors.ts';
import { familiarReference, formatReference, parseReference, type Reference } from '../../core/registry/reference.ts';
import { check, type FuzzTarget, refusesOnlyWith } from './index.ts';

const parse = (s: string) =>
  refusesOnlyWith(
    () => parseReference(s),
    (e) => e instanceof BerthError,
  );

/** Image references: refused with BerthError or normalised to a form that parses back to itself. */
export const target: FuzzTarget = {
  name: 'reference',
  maxLength: 512,
  dictionary: [
    'docker.io/',
    'library/',
    'localhost',
    ':5000/',
    '@sha256:',
    'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    ':latest',
    '[::1]',
    '127.0.0.1',
    '__',
    '--',
    '.',
    '/',
    ':',
    '@',
    'index.docker.io/',
  ],
  fuzz(data) {
    const input = data.toString('utf8');
    const r = parse(input);
    if (!r) return;
    const same = (a: Reference | undefined, why: string) => check(a !== undefined && formatReference(a) === formatReference(r), why, { input, r, a });
    check(`${r.domain}/${r.path}`.length <= 255, 'the name is at most 255 characters', r);
    check(r.tag !== undefined || r.digest !== undefined, 'a tag or a digest', r);
    same(parse(formatReference(r)), 'the normalised form parses to itself');
    same(parse(familiarReference(r)), 'the familiar form parses to the same reference');
  },
};
