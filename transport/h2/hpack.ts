/**
 * HPACK (RFC 7541), the header compression of HTTP/2. The decoder is complete (dynamic table,
 * Huffman); the encoder uses the static table only and writes plain strings, which any peer
 * decodes and which keeps the encoder stateless.
 */

/** A decoding failure: the connection must end with COMPRESSION_ERROR. */
export class HpackError extends Error {}

// Appendix A. Index 0 is unused: indices are 1-based on the wire.
const STATIC_NAMES = [
  '',
  ':authority',
  ':method',
  ':method',
  ':path',
  ':path',
  ':scheme',
  ':scheme',
  ':status',
  ':status',
  ':status',
  ':status',
  ':status',
  ':status',
  ':status',
  'accept-charset',
  'accept-encoding',
  'accept-language',
  'accept-ranges',
  'accept',
  'access-control-allow-origin',
  'age',
  'allow',
  'authorization',
  'cache-control',
  'content-disposition',
  'content-encoding',
  'content-language',
  'content-length',
  'content-location',
  'content-range',
  'content-type',
  'cookie',
  'date',
  'etag',
  'expect',
  'expires',
  'from',
  'host',
  'if-match',
  'if-modified-since',
  'if-none-match',
  'if-range',
  'if-unmodified-since',
  'last-modified',
  'link',
  'location',
  'max-forwards',
  'proxy-authenticate',
  'proxy-authorization',
  'range',
  'referer',
  'refresh',
  'retry-after',
  'server',
  'set-cookie',
  'strict-transport-security',
  'transfer-encoding',
  'user-agent',
  'vary',
  'via',
  'www-authenticate',
];
const STATIC_VALUES = ['', '', 'GET', 'POST', '/', '/index.html', 'http', 'https', '200', '204', '206', '304', '400', '404', '500', '', 'gzip, deflate'];
while (STATIC_VALUES.length < STATIC_NAMES.length) STATIC_VALUES.push('');
const STATIC_COUNT = STATIC_NAMES.length - 1; // 61

/**
 * Appendix B as bit lengths, symbols 0-255 then EOS (256). The code is canonical: sorting the
 * symbols by (length, symbol) and counting up gives each its code, so the lengths are all of it.
 */
const HUFFMAN_LENGTHS = [
  /* 0x00 */ 13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, /* 0x10 */ 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  /* 0x20 */ 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, /* 0x30 */ 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, /* 0x40 */ 13, 6, 7, 7, 7, 7,
  7, 7, 7, 7, 7, 7, 7, 7, 7, 7, /* 0x50 */ 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, /* 0x60 */ 15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
  /* 0x70 */ 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, /* 0x80 */ 20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, /* 0x90 */ 24, 24,
  22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, /* 0xa0 */ 22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, /* 0xb0 */ 21, 21, 22, 21,
  23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, /* 0xc0 */ 26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, /* 0xd0 */ 19, 21, 26, 27, 27, 26,
  27, 24, 21, 21, 26, 26, 28, 27, 27, 27, /* 0xe0 */ 20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, /* 0xf0 */ 26, 27, 26, 26, 27, 27, 27, 27,
  27, 28, 27, 27, 27, 27, 27, 26, /* EOS  */ 30,
];
const EOS = 256;

/** The canonical code of each symbol, built as RFC 1951 section 3.2.2 builds DEFLATE's. */
function huffmanCodes(): Int32Array {
  const count = new Int32Array(31);
  for (let sym = 0; sym <= EOS; sym++) count[HUFFMAN_LENGTHS[sym]!]!++;
  const next = new Int32Array(31); // the first code of each length
  let code = 0;
  for (let len = 1; len <= 30; len++) next[len] = code = (code + count[len - 1]!) * 2;
  if (code + count[30]! !== 2 ** 30) throw new Error('HPACK Huffman lengths do not make a complete code');
  const codes = new Int32Array(EOS + 1);
  for (let sym = 0; sym <= EOS; sym++) codes[sym] = next[HUFFMAN_LENGTHS[sym]!]!++;
  return codes;
}

/*
 * The Huffman decoder is a state machine fed 4 bits at a time. A state is an internal node of
 * the code's tree (256 of them, the root being 0); TRANSITIONS[state << 4 | nibble] packs the
 * state after those 4 bits, whether a symbol was completed on the way (at most one: no code is
 * shorter than 5 bits) and which, or that EOS was reached. ACCEPTS[state] says whether the
 * string may end there: the bits since the last symbol are at most 7 and all ones (a prefix
 * of EOS, section 5.2).
 */
const EMITS = 0x100;
const FAILS = 0x200;
let TRANSITIONS: Uint32Array | undefined;
let ACCEPTS: Uint8Array | undefined;
let huffmanOut = Buffer.alloc(0);

function buildHuffmanDecoder(): Uint32Array {
  // children[node * 2 + bit]: > 0 another internal node, < 0 the leaf -(symbol + 1)
  const children = new Int16Array(512);
  let nodes = 1;
  const codes = huffmanCodes();
  for (let sym = 0; sym <= EOS; sym++) {
    const code = codes[sym]!;
    let node = 0;
    for (let i = HUFFMAN_LENGTHS[sym]! - 1; i > 0; i--) {
      const slot = node * 2 + ((code >>> i) & 1);
      if (children[slot] === 0) children[slot] = nodes++;
      node = children[slot]!;
    }
    children[node * 2 + (code & 1)] = -(sym + 1);
  }
  ACCEPTS = new Uint8Array(256);
  for (let node = 0, depth = 0; depth <= 7; depth++, node = children[node * 2 + 1]!) ACCEPTS[node] = 1;
  // One bit at a time, then two, then four: each table composes two steps of the one before.
  const bit = new Uint32Array(512);
  for (let i = 0; i < 512; i++) {
    const child = children[i]!;
    bit[i] = child >= 0 ? child : child === -(EOS + 1) ? FAILS : EMITS | ((-child - 1) << 16);
  }
  return (TRANSITIONS = doubled(doubled(bit, 2), 4));
}

/** The transitions for steps of `width` bits from those for steps of half that. */
function doubled(half: Uint32Array, width: number): Uint32Array {
  const table = new Uint32Array(256 << width);
  const shift = width / 2;
  const low = (1 << shift) - 1;
  for (let i = 0; i < table.length; i++) {
    // i is state, high bits, low bits; i >> shift is state, high bits
    const first = half[i >> shift]!;
    const second = half[((first & 0xff) << shift) | (i & low)]!;
    // at most one of the two emits: codes are 5 bits or longer
    table[i] = (first | second) & FAILS ? FAILS : (second & 0xff) | ((first | second) & ~0xff);
  }
  return table;
}

function huffmanDecode(src: Buffer, start: number, end: number): string {
  const table = TRANSITIONS ?? buildHuffmanDecoder();
  // Each symbol takes at least 5 bits, so n bytes hold at most 8n/5 of them.
  const most = Math.ceil(((end - start) * 8) / 5);
  if (huffmanOut.length < most) huffmanOut = Buffer.allocUnsafe(Math.max(most, 256));
  const out = huffmanOut;
  let n = 0;
  let state = 0;
  for (let i = start; i < end; i++) {
    const byte = src[i]!;
    let entry = table[(state << 4) | (byte >> 4)]!;
    if (entry & EMITS) out[n++] = entry >>> 16;
    else if (entry & FAILS) throw new HpackError('EOS in a Huffman-coded string');
    entry = table[((entry & 0xff) << 4) | (byte & 15)]!;
    if (entry & EMITS) out[n++] = entry >>> 16;
    else if (entry & FAILS) throw new HpackError('EOS in a Huffman-coded string');
    state = entry & 0xff;
  }
  if (!ACCEPTS![state]) throw new HpackError('bad padding in a Huffman-coded string');
  return out.toString('latin1', 0, n);
}

/** The size of a header field for the table and the header list limit (section 4.1). */
const fieldSize = (name: string, value: string) => name.length + value.length + 32;

export class HpackDecoder {
  private readonly maxTableSize: number;
  private readonly maxListSize: number;
  /** the limit the peer chose with size updates, at most maxTableSize */
  private limit: number;
  private size = 0;
  // The dynamic table as a ring, newest entry at `head`; capacity a power of two.
  private names: string[] = new Array<string>(16).fill('');
  private values: string[] = new Array<string>(16).fill('');
  private head = 0;
  private count = 0;
  /** read position within the block being decoded */
  private pos = 0;

  /** maxTableSize: the SETTINGS_HEADER_TABLE_SIZE we advertised (default 4096); maxListSize: the largest header list accepted (sum of name+value+32 per field, RFC 7540 SETTINGS_MAX_HEADER_LIST_SIZE), default 64 KiB */
  constructor(maxTableSize = 4096, maxListSize = 65536) {
    this.maxTableSize = maxTableSize;
    this.maxListSize = maxListSize;
    this.limit = maxTableSize;
  }

  /** Decodes one complete header block (HEADERS + CONTINUATION payloads joined) into a flat array: [name0, value0, name1, value1, ...], in order. Throws HpackError on any malformed input, and on a list over maxListSize. */
  decode(block: Buffer): string[] {
    const out: string[] = [];
    const end = block.length;
    let listSize = 0;
    this.pos = 0;
    while (this.pos < end) {
      const first = block[this.pos]!;
      let name: string;
      let value: string;
      if (first & 0x80) {
        const index = this.integer(block, 7);
        if (index > STATIC_COUNT) {
          const slot = this.slot(index);
          name = this.names[slot]!;
          value = this.values[slot]!;
        } else {
          name = this.nameAt(index);
          value = STATIC_VALUES[index]!;
        }
      } else if (first & 0x40) {
        const index = this.integer(block, 6);
        name = index === 0 ? this.string(block) : this.nameAt(index);
        value = this.string(block);
        this.insert(name, value);
      } else if (first & 0x20) {
        // Size updates may only open a block (section 4.2).
        if (out.length > 0) throw new HpackError('dynamic table size update after a header field');
        const limit = this.integer(block, 5);
        if (limit > this.maxTableSize) throw new HpackError(`dynamic table size update to ${limit}, above the ${this.maxTableSize} allowed`);
        this.limit = limit;
        this.evict(0);
        continue;
      } else {
        // without indexing (0000) and never indexed (0001) decode alike
        const index = this.integer(block, 4);
        name = index === 0 ? this.string(block) : this.nameAt(index);
        value = this.string(block);
      }
      listSize += fieldSize(name, value);
      if (listSize > this.maxListSize) throw new HpackError(`header list larger than ${this.maxListSize}`);
      out.push(name, value);
    }
    return out;
  }

  /** An integer with an n-bit prefix (section 5.1), refusing any over 2^28 + 2^n. */
  private integer(block: Buffer, n: number): number {
    const max = (1 << n) - 1;
    let value = block[this.pos++]! & max;
    if (value < max) return value;
    for (let shift = 0; ; shift += 7) {
      if (this.pos >= block.length) throw new HpackError('truncated integer');
      if (shift > 21) throw new HpackError('integer too large');
      const byte = block[this.pos++]!;
      value += (byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return value;
    }
  }

  /** A string literal (section 5.2), as latin1. */
  private string(block: Buffer): string {
    if (this.pos >= block.length) throw new HpackError('truncated header block');
    const huffman = block[this.pos]! & 0x80;
    const length = this.integer(block, 7);
    const start = this.pos;
    const end = start + length;
    if (end > block.length) throw new HpackError('string literal past the end of the header block');
    this.pos = end;
    return huffman ? huffmanDecode(block, start, end) : block.toString('latin1', start, end);
  }

  private nameAt(index: number): string {
    if (index === 0) throw new HpackError('index 0');
    return index <= STATIC_COUNT ? STATIC_NAMES[index]! : this.names[this.slot(index)]!;
  }

  /** Where the dynamic table keeps the entry of `index` (62 being the newest). */
  private slot(index: number): number {
    const age = index - STATIC_COUNT - 1;
    if (age >= this.count) throw new HpackError(`index ${index} beyond the ${STATIC_COUNT + this.count} entries of the tables`);
    return (this.head - age) & (this.names.length - 1);
  }

  /** Adds an entry, evicting the oldest ones to make room (section 4.4). */
  private insert(name: string, value: string): void {
    const size = fieldSize(name, value);
    this.evict(size);
    if (size > this.limit) return; // everything was evicted and the entry does not fit: the table ends empty
    if (this.count === this.names.length) this.grow();
    const mask = this.names.length - 1;
    this.head = (this.head + 1) & mask;
    this.names[this.head] = name;
    this.values[this.head] = value;
    this.count++;
    this.size += size;
  }

  /** Evicts the oldest entries until `room` more fits within the limit, or the table is empty. */
  private evict(room: number): void {
    const mask = this.names.length - 1;
    while (this.count > 0 && this.size + room > this.limit) {
      const oldest = (this.head - this.count + 1) & mask;
      this.size -= fieldSize(this.names[oldest]!, this.values[oldest]!);
      this.names[oldest] = this.values[oldest] = '';
      this.count--;
    }
  }

  private grow(): void {
    const mask = this.names.length - 1;
    const names = new Array<string>(this.names.length * 2).fill('');
    const values = new Array<string>(this.names.length * 2).fill('');
    // oldest first, so the newest lands at count - 1
    for (let i = 0; i < this.count; i++) {
      const from = (this.head - this.count + 1 + i) & mask;
      names[i] = this.names[from]!;
      values[i] = this.values[from]!;
    }
    this.names = names;
    this.values = values;
    this.head = this.count - 1;
  }
}

/** name -> its first index in the static table; entries sharing a name are adjacent */
let staticIndex: Map<string, number> | undefined;

/** The static index of the pair name+value; else minus that of the name; else 0. */
function staticMatch(name: string, value: string): number {
  if (!staticIndex) {
    staticIndex = new Map();
    for (let i = STATIC_COUNT; i >= 1; i--) staticIndex.set(STATIC_NAMES[i]!, i);
  }
  const first = staticIndex.get(name);
  if (first === undefined) return 0;
  for (let i = first; i <= STATIC_COUNT && STATIC_NAMES[i] === name; i++) if (STATIC_VALUES[i] === value) return i;
  return -first;
}

export class HpackEncoder {
  /** Encodes a header list. No dynamic table and no Huffman: each field is an indexed field when the static table has the exact name+value pair (e.g. ':status' '200' -> one byte 0x88), otherwise a literal without indexing, with the name by static index when the static table has the name, else a literal name. Names must be lowercase (callers guarantee it). */
  encode(fields: ReadonlyArray<readonly [string, string]>): Buffer {
    // Two passes: sizes first, so the block is one exact allocation.
    const matches = new Int32Array(fields.length);
    let total = 0;
    for (let f = 0; f < fields.length; f++) {
      const [name, value] = fields[f]!;
      const match = (matches[f] = staticMatch(name, value));
      if (match > 0) {
        total += integerSize(match, 7);
        continue;
      }
      total += match < 0 ? integerSize(-match, 4) : 1 + integerSize(name.length, 7) + name.length;
      total += integerSize(value.length, 7) + value.length;
    }
    const block = Buffer.allocUnsafe(total);
    let pos = 0;
    for (let f = 0; f < fields.length; f++) {
      const [name, value] = fields[f]!;
      const match = matches[f]!;
      if (match > 0) {
        pos = writeInteger(block, pos, 0x80, 7, match);
        continue;
      }
      if (match < 0) {
        pos = writeInteger(block, pos, 0, 4, -match);
      } else {
        block[pos++] = 0;
        pos = writeInteger(block, pos, 0, 7, name.length);
        pos += block.write(name, pos, 'latin1');
      }
      pos = writeInteger(block, pos, 0, 7, value.length);
      pos += block.write(value, pos, 'latin1');
    }
    return block;
  }
}

function integerSize(value: number, n: number): number {
  const max = (1 << n) - 1;
  if (value < max) return 1;
  let size = 2;
  for (value -= max; value >= 0x80; value = Math.floor(value / 128)) size++;
  return size;
}

/** Writes `value` with an n-bit prefix, `flags` in the bits above it; returns the position after. */
function writeInteger(block: Buffer, pos: number, flags: number, n: number, value: number): number {
  const max = (1 << n) - 1;
  if (value < max) {
    block[pos++] = flags | value;
    return pos;
  }
  block[pos++] = flags | max;
  for (value -= max; value >= 0x80; value = Math.floor(value / 128)) block[pos++] = (value & 0x7f) | 0x80;
  block[pos++] = value;
  return pos;
}
