import { setFlagsFromString } from 'node:v8';
import { invalidArgument } from '../core/errors.ts';

// containerd matches ~= with Go's RE2, in time linear in the value. V8's backtracking engine
// takes exponential time on a pattern like (a+)+$, so one List call could stall the daemon:
// ~= patterns use V8's linear engine (flag 'l'), which like RE2 refuses backreferences and
// lookaround. The engine is behind a V8 flag, which may be set at run time.
setFlagsFromString('--enable-experimental-regexp-engine');

/**
 * containerd's filter syntax. A filter string is selectors joined by ',' (all must match); a
 * list of filter strings matches when any one of them does; an empty string matches anything.
 *
 *   selector  := fieldpath [ ('==' | '!=' | '~=') value ]
 *   fieldpath := field ('.' field)*      field := [A-Za-z0-9_]+ | quoted
 *   value     := quoted | run of non-space, non-',' characters
 *
 * Quotes are "..." (with Go-style escapes); a ~= value may also be quoted with /.../ or |...|.
 */
export type FieldLookup = (path: string[]) => string | undefined;
export type Filter = (lookup: FieldLookup) => boolean;

interface Selector {
  path: string[];
  op: 'present' | '==' | '!=' | '~=';
  value: string;
  re?: RegExp;
}

export function parseFilters(filters: readonly string[]): Filter {
  if (filters.length === 0) return () => true;
  const parsed = filters.map(parseFilter);
  return (lookup) => parsed.some((f) => f(lookup));
}

export function parseFilter(input: string): Filter {
  if (input.trim() === '') return () => true;
  const selectors = new Parser(input).selectors();
  return (lookup) => selectors.every((s) => matches(s, lookup));
}

function matches(s: Selector, lookup: FieldLookup): boolean {
  const value = lookup(s.path);
  switch (s.op) {
    case 'present':
      return value !== undefined;
    case '==':
      return value !== undefined && value === s.value;
    case '!=':
      return value !== s.value;
    case '~=':
      return value !== undefined && s.re!.test(value);
  }
}

/** Looks up `labels.<key>` (and other map fields) and plain fields of an object. */
export function adaptFields(fields: Record<string, string | undefined>, maps: Record<string, Record<string, string> | undefined> = {}): FieldLookup {
  return (path) => {
    if (path.length === 0) return undefined;
    const [head, ...rest] = path;
    if (rest.length === 0) return Object.hasOwn(fields, head) ? fields[head] : undefined;
    const map = Object.hasOwn(maps, head) ? maps[head] : undefined;
    if (!map) return undefined;
    const key = rest.join('.');
    return Object.hasOwn(map, key) ? map[key] : undefined;
  };
}

const isFieldChar = (c: string) => /[A-Za-z0-9_]/.test(c);
const isQuote = (c: string) => c === '"' || c === '/' || c === '|';

class Parser {
  private pos = 0;
  constructor(private readonly input: string) {}

  selectors(): Selector[] {
    const out = [this.selector()];
    for (;;) {
      this.skipSpace();
      if (this.pos >= this.input.length) return out;
      if (this.input[this.pos] !== ',') this.fail(`unexpected input: ${this.input[this.pos]}`);
      this.pos++;
      out.push(this.selector());
    }
  }

  private selector(): Selector {
    const path = [this.field()];
    for (;;) {
      this.skipSpace();
      if (this.input[this.pos] !== '.') break;
      this.pos++;
      path.push(this.field());
    }
    this.skipSpace();
    if (this.pos >= this.input.length || this.input[this.pos] === ',') return { path, op: 'present', value: '' };
    const op = this.operator();
    const value = this.value(op === '~=');
    if (op !== '~=') return { path, op, value };
    let re: RegExp;
    try {
      re = new RegExp(value, 'l');
    } catch {
      this.fail(`invalid regular expression ${JSON.stringify(value)}`);
    }
    return { path, op, value, re };
  }

  private field(): string {
    this.skipSpace();
    const c = this.input[this.pos];
    if (c === '"') return this.quoted(false);
    const start = this.pos;
    while (this.pos < this.input.length && isFieldChar(this.input[this.pos])) this.pos++;
    if (start === this.pos) this.fail('expected field or quoted');
    return this.input.slice(start, this.pos);
  }

  private operator(): '==' | '!=' | '~=' {
    const start = this.pos;
    while ('=!~'.includes(this.input[this.pos] ?? 'x')) this.pos++;
    const op = this.input.slice(start, this.pos);
    if (op === '==' || op === '!=' || op === '~=') return op;
    if (op === '') this.fail('expected an operator ("=="|"!="|"~=")');
    this.fail(`unsupported operator ${JSON.stringify(op)}`);
  }

  private value(allowAltQuotes: boolean): string {
    this.skipSpace();
    const c = this.input[this.pos];
    if (c !== undefined && isQuote(c)) {
      if (c !== '"' && !allowAltQuotes) this.fail(`invalid quote encountered: ${c}`);
      return this.quoted(true);
    }
    const start = this.pos;
    while (this.pos < this.input.length && this.input[this.pos] !== ',' && !/\s/.test(this.input[this.pos])) this.pos++;
    if (start === this.pos) this.fail('expected value or quoted');
    return this.input.slice(start, this.pos);
  }

  private quoted(allowAlt: boolean): string {
    const quote = this.input[this.pos];
    if (!allowAlt && quote !== '"') this.fail('expected field or quoted');
    this.pos++;
    let out = '';
    for (;;) {
      if (this.pos >= this.input.length || this.input[this.pos] === '\n') this.fail('quoted literal not terminated');
      const c = this.input[this.pos++];
      if (c === quote) return out;
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = this.input[this.pos++];
      const simple: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\' };
      if (e === quote) out += quote;
      else if (e !== undefined && Object.hasOwn(simple, e)) out += simple[e];
      else if (e === 'x' || e === 'u' || e === 'U') {
        const len = e === 'x' ? 2 : e === 'u' ? 4 : 8;
        const hex = this.input.slice(this.pos, this.pos + len);
        const code = parseInt(hex, 16);
        // as Go's strconv: a code point must be a valid Unicode scalar value
        if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== len || code > 0x10ffff || (code >= 0xd800 && code < 0xe000)) this.fail('invalid escape sequence');
        out += String.fromCodePoint(code);
        this.pos += len;
      } else if (e !== undefined && /[0-7]/.test(e)) {
        const oct = this.input.slice(this.pos - 1, this.pos + 2);
        if (!/^[0-7]{3}$/.test(oct)) this.fail('invalid escape sequence');
        out += String.fromCharCode(parseInt(oct, 8));
        this.pos += 2;
      } else this.fail('invalid escape sequence');
    }
  }

  private skipSpace() {
    while (this.pos < this.input.length && /\s/.test(this.input[this.pos])) this.pos++;
  }

  private fail(message: string, at = this.pos): never {
    // containerd's parse error text, so clients see the same message from both daemons
    const input = this.input;
    const where = at < input.length ? `[${input.slice(0, at)} >|${input[at]}|< ${input.slice(at + 1)}]` : `[${input}]`;
    throw invalidArgument(`filters: parse error: ${where}: ${message}: invalid argument`);
  }
}
