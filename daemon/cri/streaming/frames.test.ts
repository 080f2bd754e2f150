import { constants, deflateSync, inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { spdyDictionary } from './dictionary.ts';
import {
  adler32,
  dataFrame,
  decodeHeaderBlock,
  encodeHeaderBlock,
  FrameReader,
  FrameType,
  goAwayFrame,
  HeaderDeflater,
  HeaderInflater,
  parseControl,
  pingFrame,
  RstStatus,
  rstStreamFrame,
  SpdyProtocolError,
  settingsFrame,
  synReplyFrame,
  synStreamFrame,
  windowUpdateFrame,
} from './frames.ts';

const readAll = (bytes: Buffer, max = 1 << 20) => {
  const r = new FrameReader(max);
  r.push(bytes);
  const frames = [];
  for (let f = r.next(); f; f = r.next()) frames.push(f);
  return frames;
};

describe('SPDY/3 header dictionary', () => {
  it("is the spec's: 1423 bytes whose Adler-32 (the zlib DICTID every SPDY/3 header stream names) is e3c6a7c2", () => {
    expect(spdyDictionary.length).toBe(1423);
    expect(adler32(spdyDictionary).toString(16)).toBe('e3c6a7c2');
    expect(spdyDictionary.subarray(0, 11)).toEqual(Buffer.from('\0\0\0\x07options', 'latin1'));
    expect(spdyDictionary.subarray(-7).toString('latin1')).toBe(',enq=0.');
  });
});

describe('SPDY frames', () => {
  it('writes each frame as the spec lays it out, and reads it back', () => {
    const block = Buffer.from('hdrs');
    expect(synStreamFrame(5, 0x01, block, 3, 2)).toEqual(Buffer.from([0x80, 3, 0, 1, 0x01, 0, 0, 14, 0, 0, 0, 5, 0, 0, 0, 3, 2 << 5, 0, ...block]));
    expect(dataFrame(7, 1, Buffer.from('hi'))).toEqual(Buffer.from([0, 0, 0, 7, 1, 0, 0, 2, 0x68, 0x69]));
    expect(rstStreamFrame(9, RstStatus.cancel)).toEqual(Buffer.from([0x80, 3, 0, 3, 0, 0, 0, 8, 0, 0, 0, 9, 0, 0, 0, 5]));
    const all = Buffer.concat([
      synReplyFrame(1, 0, block),
      settingsFrame([{ id: 7, value: 1024 }]),
      pingFrame(3),
      goAwayFrame(11, 0),
      windowUpdateFrame(0, 4096),
      dataFrame(1, 0, Buffer.alloc(0)),
    ]);
    const frames = readAll(all);
    expect(frames.map((f) => (f.data ? 'data' : parseControl(f)))).toEqual([
      { type: 'synReply', streamId: 1, flags: 0, headerBlock: block },
      { type: 'settings', entries: [{ id: 7, value: 1024, flags: 0 }] },
      { type: 'ping', id: 3 },
      { type: 'goAway', lastGoodStreamId: 11, status: 0 },
      { type: 'windowUpdate', streamId: 0, delta: 4096 },
      'data',
    ]);
  });

  it('reads frames however the bytes are cut', () => {
    const bytes = Buffer.concat([dataFrame(1, 0, Buffer.from('abc')), pingFrame(1), dataFrame(3, 1, Buffer.from('defg'))]);
    const r = new FrameReader(1024);
    const got: string[] = [];
    for (const b of bytes) {
      r.push(Buffer.from([b]));
      for (let f = r.next(); f; f = r.next()) got.push(f.data ? `${f.streamId}:${f.payload}:${f.flags}` : `control ${f.type}`);
    }
    expect(got).toEqual(['1:abc:0', `control ${FrameType.ping}`, '3:defg:1']);
  });

  it('a data frame over the limit resets its stream (FRAME_TOO_LARGE) and is skipped; a control frame over it ends the session', () => {
    const r = new FrameReader(16);
    r.push(Buffer.concat([dataFrame(3, 0, Buffer.alloc(40)), pingFrame(5)]));
    expect(() => r.next()).toThrow(expect.objectContaining({ streamId: 3, status: RstStatus.frameTooLarge }));
    expect(r.next()).toMatchObject({ data: false, type: FrameType.ping });
    const c = new FrameReader(16);
    c.push(synStreamFrame(1, 0, Buffer.alloc(40)));
    expect(() => c.next()).toThrow(SpdyProtocolError);
    try {
      c.next();
    } catch (err) {
      expect((err as SpdyProtocolError).streamId).toBeUndefined();
    }
  });

  it('refuses control bodies of the wrong size', () => {
    const bad = (type: number, body: Buffer) => {
      const head = Buffer.from([0x80, 3, 0, type, 0, 0, 0, body.length]);
      return parseControl(readAll(Buffer.concat([head, body]))[0] as Parameters<typeof parseControl>[0]);
    };
    expect(() => bad(FrameType.rstStream, Buffer.alloc(4))).toThrow(/RST_STREAM/);
    expect(() => bad(FrameType.ping, Buffer.alloc(8))).toThrow(/PING/);
    expect(() => bad(FrameType.settings, Buffer.from([0, 0, 0, 2, 0, 0, 0, 7, 0, 0, 0, 1]))).toThrow(/SETTINGS/);
    expect(() => bad(FrameType.synStream, Buffer.alloc(6))).toThrow(/SYN_STREAM/);
    expect(bad(99, Buffer.alloc(3))).toEqual({ type: 'unknown', code: 99 });
  });
});

describe('SPDY header blocks', () => {
  it('encodes names lower-cased with repeated values NUL-joined, and decodes them', () => {
    const block = encodeHeaderBlock([
      ['StreamType', 'stdout'],
      ['x', 'a'],
      ['x', 'b'],
    ]);
    expect(block.readUInt32BE(0)).toBe(2);
    expect(decodeHeaderBlock(block)).toEqual(
      new Map([
        ['streamtype', ['stdout']],
        ['x', ['a', 'b']],
      ]),
    );
  });

  it('refuses upper-case or repeated names, truncation, trailing bytes and a count the bytes cannot hold', () => {
    const pair = (k: string, v: string) => {
      const b = Buffer.alloc(8 + k.length + v.length);
      b.writeUInt32BE(k.length, 0);
      b.write(k, 4);
      b.writeUInt32BE(v.length, 4 + k.length);
      b.write(v, 8 + k.length);
      return b;
    };
    const count = (n: number) => Buffer.from([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
    expect(() => decodeHeaderBlock(Buffer.concat([count(1), pair('Port', '80')]), 1)).toThrow(expect.objectContaining({ streamId: 1 }));
    expect(() => decodeHeaderBlock(Buffer.concat([count(2), pair('port', '80'), pair('port', '81')]))).toThrow(/twice/);
    expect(() => decodeHeaderBlock(Buffer.concat([count(1), pair('port', '80').subarray(0, 9)]))).toThrow(/truncated/);
    expect(() => decodeHeaderBlock(Buffer.concat([count(1), pair('port', '80'), Buffer.from([0])]))).toThrow(/after/);
    expect(() => decodeHeaderBlock(Buffer.concat([count(0xffffffff), pair('port', '80')]))).toThrow(/pairs/);
    expect(() => decodeHeaderBlock(Buffer.concat([count(1), pair('', 'x')]))).toThrow(/empty/);
  });

  it("berth's stored-block zlib stream is one that any inflater with the dictionary reads, block after block", () => {
    const d = new HeaderDeflater();
    const blocks = [encodeHeaderBlock([]), encodeHeaderBlock([['streamtype', 'error']]), Buffer.alloc(70_000, 7)];
    const stream = Buffer.concat(blocks.map((b) => d.deflate(b)));
    expect(stream.subarray(0, 6)).toEqual(Buffer.from([0x78, 0x20, 0xe3, 0xc6, 0xa7, 0xc2]));
    // each block ends with the sync-flush marker (an empty stored block), as a SPDY sender's does
    expect(d.deflate(encodeHeaderBlock([])).subarray(-5)).toEqual(Buffer.from([0, 0, 0, 0xff, 0xff]));
    expect(inflateSync(stream, { dictionary: spdyDictionary, finishFlush: constants.Z_SYNC_FLUSH })).toEqual(Buffer.concat(blocks));
  });

  it("inflates a peer's compressed blocks in order, and refuses one that inflates past the limit", async () => {
    // a peer's stream: each block ends with a sync flush, as a SPDY sender does
    const { createDeflate } = await import('node:zlib');
    const deflate = createDeflate({ dictionary: spdyDictionary });
    const out: Buffer[] = [];
    deflate.on('data', (c: Buffer) => out.push(c));
    const compress = (b: Buffer) =>
      new Promise<Buffer>((resolve) => {
        out.length = 0;
        deflate.write(b);
        deflate.flush(constants.Z_SYNC_FLUSH, () => resolve(Buffer.concat(out)));
      });
    const a = encodeHeaderBlock([['streamtype', 'stdin']]);
    const b = encodeHeaderBlock([['streamtype', 'stdout']]);
    const inflater = new HeaderInflater(4096);
    const ca = await compress(a);
    const cb = await compress(b);
    expect(await Promise.all([inflater.decompress(ca), inflater.decompress(cb)])).toEqual([a, b]);
    const bomb = await compress(Buffer.alloc(1 << 20));
    expect(bomb.length).toBeLessThan(4096);
    await expect(inflater.decompress(bomb)).rejects.toThrow(/more than 4096 bytes/);
    inflater.close();

    const garbage = new HeaderInflater(4096);
    await expect(garbage.decompress(Buffer.from('not zlib at all'))).rejects.toThrow(SpdyProtocolError);
    garbage.close();
    expect(deflateSync(Buffer.alloc(0)).length).toBeGreaterThan(0);
  });
});
