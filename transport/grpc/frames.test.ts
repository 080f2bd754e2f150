import { describe, expect, it } from 'vitest';
import { framePrefix, MessageReader } from './frames.ts';

const framed = (...bodies: Buffer[]) => Buffer.concat(bodies.flatMap((b) => [framePrefix(b.length), b]));

describe('MessageReader', () => {
  it('reads messages however the bytes are cut: one byte at a time, several per chunk, empty ones', () => {
    const bodies = [Buffer.from('first'), Buffer.alloc(0), Buffer.alloc(70_000, 7), Buffer.from('last')];
    const wire = framed(...bodies);
    for (const size of [1, 3, 5, 16_384, wire.length]) {
      const reader = new MessageReader(1 << 20);
      const got: Buffer[] = [];
      for (let i = 0; i < wire.length; i += size) got.push(...reader.push(wire.subarray(i, i + size)));
      expect(got).toEqual(bodies);
      expect(reader.empty).toBe(true);
    }
  });

  it('says when the bytes end inside a message', () => {
    const reader = new MessageReader(1 << 20);
    expect(reader.push(framed(Buffer.from('whole')).subarray(0, 7))).toEqual([]);
    expect(reader.empty).toBe(false);
  });

  it('refuses a message over the limit as soon as its prefix is read', () => {
    const reader = new MessageReader(10);
    expect(() => reader.push(framePrefix(11))).toThrow(expect.objectContaining({ code: 8, details: 'Received message larger than max (11 vs. 10)' }));
  });

  it('refuses a compressed message without a decompressor, and decompresses with one', () => {
    const compressed = Buffer.concat([Buffer.from([1, 0, 0, 0, 3]), Buffer.from('abc')]);
    expect(() => new MessageReader(100).push(compressed)).toThrow(expect.objectContaining({ code: 13 }));
    expect(new MessageReader(100, (b) => Buffer.from(b.toString().toUpperCase())).push(compressed)).toEqual([Buffer.from('ABC')]);
  });
});
