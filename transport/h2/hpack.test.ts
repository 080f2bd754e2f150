import http2 from 'node:http2';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { HpackDecoder, HpackEncoder, HpackError } from './hpack.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const pairs = (flat: string[]) => flat.flatMap((name, i) => (i % 2 ? [] : [[name, flat[i + 1]!] as [string, string]]));

describe('HpackDecoder on the examples of RFC 7541 Appendix C', () => {
  it('C.2: one field of each representation', () => {
    expect(new HpackDecoder().decode(hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572'))).toEqual(['custom-key', 'custom-header']);
    expect(new HpackDecoder().decode(hex('040c 2f73 616d 706c 652f 7061 7468'))).toEqual([':path', '/sample/path']);
    expect(new HpackDecoder().decode(hex('1008 7061 7373 776f 7264 0673 6563 7265 74'))).toEqual(['password', 'secret']);
    expect(new HpackDecoder().decode(hex('82'))).toEqual([':method', 'GET']);
  });

  const requests = [
    [':method', 'GET', ':scheme', 'http', ':path', '/', ':authority', 'www.example.com'],
    [':method', 'GET', ':scheme', 'http', ':path', '/', ':authority', 'www.example.com', 'cache-control', 'no-cache'],
    [':method', 'GET', ':scheme', 'https', ':path', '/index.html', ':authority', 'www.example.com', 'custom-key', 'custom-value'],
  ];
  // C.3 and C.4 leave the dynamic table as [custom-key: custom-value, cache-control: no-cache, :authority: www.example.com].
  const checkRequestTable = (decoder: HpackDecoder) => {
    expect(decoder.decode(hex('be bf c0'))).toEqual(['custom-key', 'custom-value', 'cache-control', 'no-cache', ':authority', 'www.example.com']);
    expect(() => decoder.decode(hex('c1'))).toThrow(HpackError);
  };

  it('C.3: requests without Huffman, the dynamic table carrying over', () => {
    const decoder = new HpackDecoder();
    expect(decoder.decode(hex('8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d'))).toEqual(requests[0]);
    expect(decoder.decode(hex('8286 84be 5808 6e6f 2d63 6163 6865'))).toEqual(requests[1]);
    expect(decoder.decode(hex('8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65'))).toEqual(requests[2]);
    checkRequestTable(decoder);
  });

  it('C.4: requests with Huffman', () => {
    const decoder = new HpackDecoder();
    expect(decoder.decode(hex('8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff'))).toEqual(requests[0]);
    expect(decoder.decode(hex('8286 84be 5886 a8eb 1064 9cbf'))).toEqual(requests[1]);
    expect(decoder.decode(hex('8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf'))).toEqual(requests[2]);
    checkRequestTable(decoder);
  });

  const responses = [
    [':status', '302', 'cache-control', 'private', 'date', 'Mon, 21 Oct 2013 20:13:21 GMT', 'location', 'https://www.example.com'],
    [':status', '307', 'cache-control', 'private', 'date', 'Mon, 21 Oct 2013 20:13:21 GMT', 'location', 'https://www.example.com'],
    [
      ':status',
      '200',
      'cache-control',
      'private',
      'date',
      'Mon, 21 Oct 2013 20:13:22 GMT',
      'location',
      'https://www.example.com',
      'content-encoding',
      'gzip',
      'set-cookie',
      'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1',
    ],
  ];
  // C.5 and C.6 end with [set-cookie, content-encoding, date], 215 of 256 octets: 41 more fit, 42 evict the date.
  const checkResponseTable = (decoder: HpackDecoder) => {
    const table = ['set-cookie', responses[2]![11], 'content-encoding', 'gzip', 'date', 'Mon, 21 Oct 2013 20:13:22 GMT'];
    expect(decoder.decode(hex('be bf c0'))).toEqual(table);
    expect(() => decoder.decode(hex('c1'))).toThrow(HpackError);
    expect(decoder.decode(hex('40 01 61 08 6262 6262 6262 6262 c1'))).toEqual(['a', 'bbbbbbbb', 'date', 'Mon, 21 Oct 2013 20:13:22 GMT']);
    expect(decoder.decode(hex('40 01 61 09 6262 6262 6262 6262 62 be c0 c1'))).toEqual([
      'a',
      'bbbbbbbbb',
      'a',
      'bbbbbbbbb',
      'set-cookie',
      responses[2]![11],
      'content-encoding',
      'gzip',
    ]);
    expect(() => decoder.decode(hex('c2'))).toThrow(HpackError);
  };

  it('C.5: responses without Huffman, a 256-octet table evicting', () => {
    const decoder = new HpackDecoder(256);
    const first = `4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
      2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d`;
    expect(decoder.decode(hex(first))).toEqual(responses[0]);
    expect(decoder.decode(hex('4803 3330 37c1 c0bf'))).toEqual(responses[1]);
    const third = `88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
      54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
      5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31`;
    expect(decoder.decode(hex(third))).toEqual(responses[2]);
    checkResponseTable(decoder);
  });

  it('C.6: responses with Huffman', () => {
    const decoder = new HpackDecoder(256);
    const first = `4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
      2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3`;
    expect(decoder.decode(hex(first))).toEqual(responses[0]);
    expect(decoder.decode(hex('4883 640e ffc1 c0bf'))).toEqual(responses[1]);
    const third = `88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
      77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
      9587 3160 65c0 03ed 4ee5 b106 3d50 07`;
    expect(decoder.decode(hex(third))).toEqual(responses[2]);
    checkResponseTable(decoder);
  });
});

// RFC 7541 Appendix A: the static table, indices 1-61.
const APPENDIX_A = [
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
] as Array<[string, string]>;

describe('the static table', () => {
  it('is that of the RFC, for the decoder and the encoder', () => {
    expect(APPENDIX_A).toHaveLength(61);
    const indices = Buffer.from(APPENDIX_A.map((_, i) => 0x80 | (i + 1)));
    expect(pairs(new HpackDecoder().decode(indices))).toEqual(APPENDIX_A);
    expect(new HpackEncoder().encode(APPENDIX_A)).toEqual(indices);
  });
});

// RFC 7541 Appendix B, code (hex, aligned to the least significant bit) / length in bits, for symbols 0-255 and EOS.
const APPENDIX_B = `
  1ff8/13 7fffd8/23 fffffe2/28 fffffe3/28 fffffe4/28 fffffe5/28 fffffe6/28 fffffe7/28
  fffffe8/28 ffffea/24 3ffffffc/30 fffffe9/28 fffffea/28 3ffffffd/30 fffffeb/28 fffffec/28
  fffffed/28 fffffee/28 fffffef/28 ffffff0/28 ffffff1/28 ffffff2/28 3ffffffe/30 ffffff3/28
  ffffff4/28 ffffff5/28 ffffff6/28 ffffff7/28 ffffff8/28 ffffff9/28 ffffffa/28 ffffffb/28
  14/6 3f8/10 3f9/10 ffa/12 1ff9/13 15/6 f8/8 7fa/11
  3fa/10 3fb/10 f9/8 7fb/11 fa/8 16/6 17/6 18/6
  0/5 1/5 2/5 19/6 1a/6 1b/6 1c/6 1d/6
  1e/6 1f/6 5c/7 fb/8 7ffc/15 20/6 ffb/12 3fc/10
  1ffa/13 21/6 5d/7 5e/7 5f/7 60/7 61/7 62/7
  63/7 64/7 65/7 66/7 67/7 68/7 69/7 6a/7
  6b/7 6c/7 6d/7 6e/7 6f/7 70/7 71/7 72/7
  fc/8 73/7 fd/8 1ffb/13 7fff0/19 1ffc/13 3ffc/14 22/6
  7ffd/15 3/5 23/6 4/5 24/6 5/5 25/6 26/6
  27/6 6/5 74/7 75/7 28/6 29/6 2a/6 7/5
  2b/6 76/7 2c/6 8/5 9/5 2d/6 77/7 78/7
  79/7 7a/7 7b/7 7ffe/15 7fc/11 3ffd/14 1ffd/13 ffffffc/28
  fffe6/20 3fffd2/22 fffe7/20 fffe8/20 3fffd3/22 3fffd4/22 3fffd5/22 7fffd9/23
  3fffd6/22 7fffda/23 7fffdb/23 7fffdc/23 7fffdd/23 7fffde/23 ffffeb/24 7fffdf/23
  ffffec/24 ffffed/24 3fffd7/22 7fffe0/23 ffffee/24 7fffe1/23 7fffe2/23 7fffe3/23
  7fffe4/23 1fffdc/21 3fffd8/22 7fffe5/23 3fffd9/22 7fffe6/23 7fffe7/23 ffffef/24
  3fffda/22 1fffdd/21 fffe9/20 3fffdb/22 3fffdc/22 7fffe8/23 7fffe9/23 1fffde/21
  7fffea/23 3fffdd/22 3fffde/22 fffff0/24 1fffdf/21 3fffdf/22 7fffeb/23 7fffec/23
  1fffe0/21 1fffe1/21 3fffe0/22 1fffe2/21 7fffed/23 3fffe1/22 7fffee/23 7fffef/23
  fffea/20 3fffe2/22 3fffe3/22 3fffe4/22 7ffff0/23 3fffe5/22 3fffe6/22 7ffff1/23
  3ffffe0/26 3ffffe1/26 fffeb/20 7fff1/19 3fffe7/22 7ffff2/23 3fffe8/22 1ffffec/25
  3ffffe2/26 3ffffe3/26 3ffffe4/26 7ffffde/27 7ffffdf/27 3ffffe5/26 fffff1/24 1ffffed/25
  7fff2/19 1fffe3/21 3ffffe6/26 7ffffe0/27 7ffffe1/27 3ffffe7/26 7ffffe2/27 fffff2/24
  1fffe4/21 1fffe5/21 3ffffe8/26 3ffffe9/26 ffffffd/28 7ffffe3/27 7ffffe4/27 7ffffe5/27
  fffec/20 fffff3/24 fffed/20 1fffe6/21 3fffe9/22 1fffe7/21 1fffe8/21 7ffff3/23
  3fffea/22 3fffeb/22 1ffffee/25 1ffffef/25 fffff4/24 fffff5/24 3ffffea/26 7ffff4/23
  3ffffeb/26 7ffffe6/27 3ffffec/26 3ffffed/26 7ffffe7/27 7ffffe8/27 7ffffe9/27 7ffffea/27
  7ffffeb/27 ffffffe/28 7ffffec/27 7ffffed/27 7ffffee/27 7ffffef/27 7fffff0/27 3ffffee/26
  3fffffff/30
`
  .trim()
  .split(/\s+/)
  .map((entry) => entry.split('/').map((n, i) => (i ? Number(n) : parseInt(n, 16))) as [number, number]);

/** Huffman-codes `symbols` with the RFC's table, padded with the start of EOS. */
function huffman(symbols: number[]): Buffer {
  let bits = symbols.map((sym) => APPENDIX_B[sym]![0].toString(2).padStart(APPENDIX_B[sym]![1], '0')).join('');
  bits += '1'.repeat(-bits.length & 7);
  return Buffer.from((bits.match(/.{8}/g) ?? []).map((byte) => parseInt(byte, 2)));
}

/** An HPACK integer with an n-bit prefix below `flags`. */
function integer(flags: number, n: number, value: number): Buffer {
  const max = 2 ** n - 1;
  if (value < max) return Buffer.from([flags | value]);
  const bytes = [flags | max];
  for (value -= max; value >= 128; value = Math.floor(value / 128)) bytes.push((value % 128) | 128);
  return Buffer.from([...bytes, value]);
}

/** A literal field without indexing named x whose value is the Huffman-coded `coded`. */
const huffmanField = (coded: Buffer) => Buffer.concat([hex('00 01 78'), integer(0x80, 7, coded.length), coded]);

describe('Huffman decoding', () => {
  it('has the table of the RFC: its codes for the Appendix C strings', () => {
    expect(APPENDIX_B).toHaveLength(257);
    expect(huffman([...Buffer.from('www.example.com')])).toEqual(hex('f1e3 c2e5 f23a 6ba0 ab90 f4ff'));
    expect(huffman([...Buffer.from('Mon, 21 Oct 2013 20:13:21 GMT')])).toEqual(hex('d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff'));
  });

  it('decodes each of the 256 symbols as Appendix B codes it, alone and in runs', () => {
    const decoder = new HpackDecoder();
    for (let sym = 0; sym < 256; sym++) expect(decoder.decode(huffmanField(huffman([sym])))).toEqual(['x', String.fromCharCode(sym)]);
    const all = Array.from({ length: 256 }, (_, i) => i);
    for (const run of [all, all.toReversed(), all.map((i) => (i * 97) % 256)]) {
      expect(decoder.decode(huffmanField(huffman(run)))).toEqual(['x', Buffer.from(run).toString('latin1')]);
    }
  });

  it('refuses EOS, whether inside the string or as its padding', () => {
    const decoder = new HpackDecoder();
    expect(() => decoder.decode(huffmanField(huffman([0x61, 256, 0x61])))).toThrow(HpackError);
    expect(() => decoder.decode(huffmanField(huffman([0x61, 256])))).toThrow(HpackError);
    expect(() => decoder.decode(huffmanField(huffman([256])))).toThrow(HpackError);
  });
});

describe('HpackDecoder on hostile input', () => {
  it.each([
    ['index 0', '80'],
    ['an index beyond the tables', 'be'],
    ['a name index beyond the tables', '7e 01 61'],
    ['a truncated integer', 'ff'],
    ['an integer cut in its continuation', 'ff 80'],
    ['an integer over 2^28', 'ff ff ff ff ff 0f'],
    ['an integer over 2^28 that is 15 modulo 2^32', '0f 80 80 80 80 10 01 78'],
    ['a string one octet past the end', '00 01 61 02 62'],
    ['a block ending before the value', '40 01 61'],
    ['Huffman padding of zeros', '00 01 78 81 00'],
    ['Huffman padding over 7 bits', '00 01 78 82 07 ff'],
    ['a Huffman-coded EOS', '00 01 78 84 ff ff ff ff'],
    ['a table size update above the limit', '3f e2 1f'],
    ['a table size update after a field', '82 20'],
  ])('throws HpackError on %s', (_, block) => {
    expect(() => new HpackDecoder().decode(hex(block))).toThrow(HpackError);
  });

  it('accepts the valid neighbours of those', () => {
    const decoder = new HpackDecoder();
    expect(decoder.decode(hex('00 01 78 81 07'))).toEqual(['x', '0']); // 00000 then 111 padding
    expect(decoder.decode(hex('0f 80 80 80 00 01 78'))).toEqual(['accept-charset', 'x']); // 15 + 0 in four continuation bytes
    expect(decoder.decode(hex('20 3f e1 1f 82'))).toEqual([':method', 'GET']); // two updates, then a field
    expect(decoder.decode(hex('0f 2e 03 313233'))).toEqual(['www-authenticate', '123']); // name index 61, the last static one
  });

  it('throws on a header list over maxListSize', () => {
    // ':method' 'GET' counts 7 + 3 + 32 = 42
    expect(new HpackDecoder(4096, 84).decode(hex('82 82'))).toEqual([':method', 'GET', ':method', 'GET']);
    expect(() => new HpackDecoder(4096, 83).decode(hex('82 82'))).toThrow(HpackError);
  });

  it('empties the table on a size update to 0 and on an entry larger than the table', () => {
    const decoder = new HpackDecoder(4096);
    expect(decoder.decode(hex('40 01 61 01 62 be'))).toEqual(['a', 'b', 'a', 'b']);
    expect(decoder.decode(hex('20'))).toEqual([]);
    expect(() => decoder.decode(hex('be'))).toThrow(HpackError);
    expect(decoder.decode(hex('3f 81 01 40 01 61 01 62 be'))).toEqual(['a', 'b', 'a', 'b']); // back up to 160
    const big = Buffer.concat([hex('40 01 63'), integer(0, 7, 200), Buffer.alloc(200, 0x64)]);
    expect(decoder.decode(big)).toEqual(['c', 'd'.repeat(200)]);
    expect(() => decoder.decode(hex('be'))).toThrow(HpackError);
  });

  it('keeps the table right across many insertions, growing and wrapping its ring', () => {
    const decoder = new HpackDecoder(4096);
    for (let i = 0; i < 1000; i++) {
      const name = `n${i}`;
      const value = 'v'.repeat(i % 90);
      decoder.decode(Buffer.concat([hex('40'), integer(0, 7, name.length), Buffer.from(name), integer(0, 7, value.length), Buffer.from(value)]));
      // entries of 32 + name + value octets, newest at 62: walk back while they fit in 4096
      let size = 0;
      const expected: string[] = [];
      for (let j = i; j >= 0; j--) {
        size += 32 + `n${j}`.length + (j % 90);
        if (size > 4096) break;
        expected.push(`n${j}`, 'v'.repeat(j % 90));
      }
      const count = expected.length / 2;
      const all = Buffer.concat(Array.from({ length: count }, (_, k) => integer(0x80, 7, 62 + k)));
      expect(decoder.decode(all)).toEqual(expected);
      expect(() => decoder.decode(integer(0x80, 7, 62 + count))).toThrow(HpackError);
    }
  });
});

describe('HpackEncoder', () => {
  const encoder = new HpackEncoder();

  it('writes static pairs as indexed fields, static names by index, other names as literals', () => {
    expect(encoder.encode([[':status', '200']])).toEqual(hex('88'));
    expect(
      encoder.encode([
        [':method', 'POST'],
        ['accept-encoding', 'gzip, deflate'],
      ]),
    ).toEqual(hex('83 90'));
    expect(encoder.encode([[':status', '418']])).toEqual(hex('08 03 343138'));
    expect(encoder.encode([['content-type', 'application/grpc']])).toEqual(Buffer.concat([hex('0f 10 10'), Buffer.from('application/grpc')]));
    expect(encoder.encode([['grpc-status', '0']])).toEqual(Buffer.concat([hex('00 0b'), Buffer.from('grpc-status'), hex('01 30')]));
    expect(encoder.encode([])).toEqual(Buffer.alloc(0));
  });

  it('writes long lengths with continuation bytes (1337 = 127 + 0x3a + 9 * 128)', () => {
    const block = encoder.encode([['server', 'x'.repeat(1337)]]);
    expect(block.subarray(0, 5)).toEqual(hex('0f 27 7f ba 09')); // server is static 54 = 15 + 39
    expect(block).toHaveLength(5 + 1337);
  });

  it('round-trips through HpackDecoder, every octet and length edge included', () => {
    const octets = Buffer.from(Array.from({ length: 256 }, (_, i) => i)).toString('latin1');
    const fields: Array<[string, string]> = [
      [':status', '200'],
      [':status', '299'],
      [':method', 'GET'],
      [':path', '/index.html'],
      ['cookie', ''],
      ['x-empty', ''],
      ['x-octets', octets],
      ['n'.repeat(127), 'a'.repeat(126)],
      ['n'.repeat(128), 'a'.repeat(127)],
      ['x-254', 'a'.repeat(254)],
      ['x-255', 'a'.repeat(255)],
      ['x-16510', 'b'.repeat(16510)],
      ['x-16511', 'b'.repeat(16511)],
      ['x-100000', 'c'.repeat(100_000)],
      ['www-authenticate', 'w'],
    ];
    expect(pairs(new HpackDecoder(4096, 1 << 20).decode(encoder.encode(fields)))).toEqual(fields);
  });
});

interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}
const HEADERS = 1;
const SETTINGS = 4;
const CONTINUATION = 9;
const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;

function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream, 5);
  return Buffer.concat([head, payload]);
}

/**
 * A bare HTTP/2 server and a node:http2 (nghttp2) client connected to it. The server sends an
 * empty SETTINGS, acknowledges the client's, and joins HEADERS + CONTINUATION into header blocks
 * (padding and priority stripped) for `onBlock`.
 */
async function rawPeer(onBlock: (stream: number, block: Buffer, socket: net.Socket) => void) {
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    socket.write(frame(SETTINGS, 0, 0));
    let buffered = Buffer.alloc(0);
    let prefaceRead = false;
    let pending: Buffer[] = [];
    let pendingStream = 0;
    socket.on('data', (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (!prefaceRead) {
        if (buffered.length < 24) return;
        if (buffered.toString('latin1', 0, 24) !== 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n') throw new Error('no client preface');
        buffered = buffered.subarray(24);
        prefaceRead = true;
      }
      while (buffered.length >= 9 && buffered.length >= 9 + buffered.readUIntBE(0, 3)) {
        const length = buffered.readUIntBE(0, 3);
        const f: Frame = { type: buffered[3]!, flags: buffered[4]!, stream: buffered.readUInt32BE(5) & 0x7fffffff, payload: buffered.subarray(9, 9 + length) };
        buffered = buffered.subarray(9 + length);
        if (f.type === SETTINGS && !(f.flags & 1)) socket.write(frame(SETTINGS, 1, 0));
        if (f.type === HEADERS) {
          let payload = f.payload;
          const padding = f.flags & PADDED ? payload[0]! : 0;
          if (f.flags & PADDED) payload = payload.subarray(1);
          if (f.flags & PRIORITY) payload = payload.subarray(5);
          pending = [payload.subarray(0, payload.length - padding)];
          pendingStream = f.stream;
        } else if (f.type === CONTINUATION) {
          pending.push(f.payload);
        } else {
          continue;
        }
        if (f.flags & END_HEADERS) onBlock(pendingStream, Buffer.concat(pending), socket);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const client = http2.connect('http://localhost', { createConnection: () => net.connect(port, '127.0.0.1') });
  client.on('error', () => {});
  return {
    client,
    close() {
      client.destroy();
      server.close();
    },
  };
}

/** A reproducible generator of numbers in [0, 1). */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}

const PRINTABLE = Array.from({ length: 0x7f - 0x20 }, (_, i) => String.fromCharCode(0x20 + i)).join('');

describe('against nghttp2 (node:http2)', () => {
  it('decodes its request headers: Huffman, the dynamic table with evictions, never-indexed fields, CONTINUATION', async () => {
    const next = random(7541);
    const printable = (length: number) => Array.from({ length }, () => PRINTABLE[Math.floor(next() * PRINTABLE.length)]).join('');
    const shuffled = (s: string) =>
      [...s]
        .map((c) => [next(), c] as const)
        .sort((a, b) => a[0] - b[0])
        .map(([, c]) => c)
        .join('');
    const lower = (length: number) => Array.from({ length }, () => 'abcdefghijklmnopqrstuvwxyz0123456789'[Math.floor(next() * 36)]).join('');

    const count = 80;
    const sent: Array<Array<[string, string]>> = [];
    for (let i = 0; i < count; i++) {
      const fields: Array<[string, string]> = [
        [':method', i % 3 ? 'GET' : 'POST'],
        [':path', `/berth.v1.Service/Call${i % 7}`],
        [':authority', 'localhost'],
        [':scheme', 'http'],
        ['x-seq', String(i)],
        ['content-type', 'application/grpc'],
        ['x-shared', `shared-${i % 5}`],
        ['x-random', printable(1 + Math.floor(next() * 200))],
        ['x-every-printable', shuffled(PRINTABLE)],
        ['authorization', `Bearer ${lower(20)}`],
        ['cookie', `c=${i % 3}`],
        ['x-multi', 'one'],
        ['x-multi', 'two'],
        // among lowercase, four of the octets 0x80-0xff and two printable ones per request: nghttp2 still picks Huffman, so all their codes get used
        [
          'x-rare',
          lower(30) +
            String.fromCharCode(...[0, 1, 2, 3].map((k) => 0x80 + ((i * 4 + k) % 128))) +
            PRINTABLE[(i * 2) % 95]! +
            PRINTABLE[(i * 2 + 1) % 95]! +
            lower(30) +
            '\t' +
            lower(5),
        ],
      ];
      if (i % 10 === 9) fields.push(['x-larger-than-the-table', printable(5000)]);
      if (i === 40) fields.push(['x-more-than-a-frame', printable(20_000)]);
      sent.push(fields);
    }
    // two requests like the second last: the first of them repeats it after evictions, the last is mostly table hits
    sent.push(
      sent[1]!.map(([n, v]) => [n, n === 'x-seq' ? String(count) : v]),
      sent[1]!.map(([n, v]) => [n, n === 'x-seq' ? String(count + 1) : v]),
    );

    const blocks: Buffer[] = [];
    let done!: () => void;
    const all = new Promise<void>((resolve) => (done = resolve));
    const peer = await rawPeer((_, block) => {
      blocks.push(block);
      if (blocks.length === sent.length) done();
    });
    try {
      for (const fields of sent) {
        const headers: Record<string, string | string[]> = {};
        for (const [name, value] of fields) headers[name] = name in headers ? [headers[name]!].flat().concat(value) : value;
        peer.client.request(headers, { endStream: true }).on('error', () => {});
      }
      await all;
    } finally {
      peer.close();
    }

    const decoder = new HpackDecoder();
    const received = blocks.map((block) => pairs(decoder.decode(block)));
    received.sort((a, b) => Number(a.find(([n]) => n === 'x-seq')![1]) - Number(b.find(([n]) => n === 'x-seq')![1]));
    expect(received).toEqual(sent);
    expect(blocks.at(-1)!.length).toBeLessThan(blocks.at(-2)!.length / 4);
  });

  it('decodes what HpackEncoder writes, split over CONTINUATION when large', async () => {
    const next = random(9);
    const printable = (length: number) => `x${Array.from({ length: length - 2 }, () => PRINTABLE[Math.floor(next() * PRINTABLE.length)]).join('')}x`;
    const high = Array.from({ length: 128 }, (_, i) => String.fromCharCode(0x80 + i)).join('');
    const responses: Array<Array<[string, string]>> = [
      [
        [':status', '200'],
        ['content-type', 'application/grpc'],
        ['grpc-status', '0'],
        ['grpc-message', ''],
      ],
      [
        [':status', '404'],
        ['server', 'berth'],
        ['accept-encoding', 'gzip, deflate'],
        ['x-printable', `x${PRINTABLE}x`],
        ['x-latin1', high],
      ],
      [
        [':status', '418'],
        ['x-126', 'a'.repeat(126)],
        ['x-127', 'a'.repeat(127)],
        ['x-128', 'a'.repeat(128)],
        [`x-${'n'.repeat(200)}`, printable(300)],
      ],
      [
        [':status', '200'],
        ['x-big', printable(20_000)],
        ['x-bigger', printable(30_000)],
      ],
    ];
    const decoder = new HpackDecoder();
    const encoder = new HpackEncoder();
    const peer = await rawPeer((stream, block, socket) => {
      const k = Number(pairs(decoder.decode(block)).find(([name]) => name === 'x-k')![1]);
      const encoded = encoder.encode(responses[k]!);
      for (let at = 0; at < encoded.length; at += 16_384) {
        const last = at + 16_384 >= encoded.length;
        socket.write(frame(at ? CONTINUATION : HEADERS, (last ? END_HEADERS : 0) | (at ? 0 : END_STREAM), stream, encoded.subarray(at, at + 16_384)));
      }
    });
    try {
      const got = await Promise.all(
        responses.map(
          (_, k) =>
            new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
              const request = peer.client.request({ ':path': '/', 'x-k': String(k) }, { endStream: true });
              request.on('response', resolve).on('error', reject);
            }),
        ),
      );
      for (const [k, fields] of responses.entries()) {
        for (const [name, value] of fields) expect([name, String(got[k]![name])]).toEqual([name, value]);
      }
    } finally {
      peer.close();
    }
  });
});
