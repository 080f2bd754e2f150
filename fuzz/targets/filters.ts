import { BerthError } from '../../core/errors.ts';
import { parseFilter } from '../../daemon/filters.ts';
import { check, type FuzzTarget, refusesOnlyWith } from './index.ts';

/** A quoted literal as Go's strconv.Quote writes it, which the filter syntax reads. */
export function quote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (c >= 0x20 && c < 0x7f) out += ch;
    else if (c < 0x100) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else if (c < 0x10000) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += `\\U${c.toString(16).padStart(8, '0')}`;
  }
  return `${out}"`;
}

// long enough that a backtracking blow-up on it does not end in time
const probe = `${'a'.repeat(30)}!`;

/**
 * containerd's filter syntax: refused with BerthError or parsed into a filter that evaluates in
 * bounded time; any string quoted as Go quotes it is read back exactly.
 */
export const target: FuzzTarget = {
  name: 'filters',
  maxLength: 1024,
  dictionary: [
    'labels.',
    '==',
    '!=',
    '~=',
    ',',
    '"',
    '\\',
    '\\x41',
    '\\u00e9',
    '\\U0001f600',
    '\\101',
    '/',
    '|',
    '(',
    ')',
    '+',
    '*',
    '$',
    '^',
    '.*',
    '(a+)+',
    '[a-z]',
    'name',
    'a',
  ],
  fuzz(data) {
    const input = data.toString('utf8');
    const filter = refusesOnlyWith(
      () => parseFilter(input),
      (e) => e instanceof BerthError,
    );
    if (filter) {
      filter(() => probe);
      filter(() => undefined);
    }
    const exact = parseFilter(`labels."k.${quote(input).slice(1)}==${quote(input)}`);
    check(
      exact((path) => (path.length === 2 && path[0] === 'labels' && path[1] === `k.${input}` ? input : undefined)),
      'a Go-quoted field and value read back exactly',
      input,
    );
  },
};
