import { HpackDecoder, HpackEncoder, HpackError } from '../../transport/h2/hpack.ts';
import { check, type FuzzTarget, refusesOnlyWith } from './index.ts';

const tableSize = 4096;
const maxListSize = 65536;

/** The input as header blocks, each a 2-byte big-endian length and its bytes. */
function blocks(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < data.length; ) {
    const length = at + 1 < data.length ? data.readUInt16BE(at) : 0;
    out.push(data.subarray(at + 2, at + 2 + length));
    at += 2 + length;
  }
  return out;
}

/**
 * The HPACK decoder, one connection's blocks in order: refused with HpackError, or each field no
 * larger than the table plus what the block's bytes can hold (8/5 symbols per Huffman byte), the
 * list within its limit; and what the encoder writes decodes back to the same fields.
 */
export const target: FuzzTarget = {
  name: 'hpack',
  maxLength: 4096,
  dictionary: [
    '\x00\x00',
    '\x3f\xe1\x1f',
    '\x20',
    '\x82',
    '\x86',
    '\x84',
    '\xbe',
    '\x40',
    '\x00',
    '\x10',
    '\x7f',
    '\xff\xff\xff\xff\x0f',
    '\x8c\xf1\xe3\xc2\xe5\xf2\x3a\x6b\xa0\xab\x90\xf4\xff',
  ],
  fuzz(data) {
    const decoder = new HpackDecoder(tableSize, maxListSize);
    for (const block of blocks(data)) {
      const fields = refusesOnlyWith(
        () => decoder.decode(block),
        (e) => e instanceof HpackError,
      );
      if (!fields) return; // the connection ends with COMPRESSION_ERROR
      check(fields.length % 2 === 0, 'names and values in pairs');
      let listSize = 0;
      for (let i = 0; i < fields.length; i += 2) {
        const size = fields[i]!.length + fields[i + 1]!.length;
        check(size <= tableSize + Math.ceil((block.length * 8) / 5), 'a field is bounded by the table and the block', { size, block: block.length });
        listSize += size + 32;
      }
      check(listSize <= maxListSize, 'the header list is within its limit', listSize);
      const pairs = fields.flatMap((name, i) => (i % 2 ? [] : [[name, fields[i + 1]!] as const]));
      const again = new HpackDecoder(tableSize, Infinity).decode(new HpackEncoder().encode(pairs));
      check(again.length === fields.length && again.every((f, i) => f === fields[i]), 'encode then decode gives the same fields');
    }
  },
};
