import { describe, expect, it } from 'vitest';
import { encodeFrame, FrameReader, FrameType, headerSize, maxDataSize, type ReadEvent } from './frames.ts';

const cut = (wire: Buffer, size: number): ReadEvent[] => {
  const reader = new FrameReader();
  const events: ReadEvent[] = [];
  for (let i = 0; i < wire.length; i += size) events.push(...reader.push(wire.subarray(i, i + size)));
  expect(reader.buffered).toBe(0);
  return events;
};

describe('ttrpc frames', () => {
  it('writes the header big-endian: length, stream id, type, flags', () => {
    expect([...encodeFrame(0x01020304, FrameType.Response, Buffer.from('ab'), 0x05)]).toEqual([0, 0, 0, 2, 1, 2, 3, 4, 2, 5, 0x61, 0x62]);
  });

  it('reads frames back however the bytes are cut: one byte at a time, a header split, many per chunk', () => {
    const frames = [
      { streamId: 1, type: FrameType.Request, flags: 0, data: Buffer.from('first') },
      { streamId: 3, type: FrameType.Request, flags: 0, data: Buffer.alloc(0) },
      { streamId: 5, type: FrameType.Response, flags: 0, data: Buffer.alloc(70_000, 7) },
      { streamId: 7, type: FrameType.Data, flags: 1, data: Buffer.from('last') },
    ];
    const wire = Buffer.concat(frames.map((f) => encodeFrame(f.streamId, f.type, f.data, f.flags)));
    for (const size of [1, 3, headerSize, 16_384, wire.length]) {
      expect(cut(wire, size)).toEqual(frames.map((frame) => ({ kind: 'frame', frame })));
    }
  });

  it('holds nothing of a frame until it is whole', () => {
    const reader = new FrameReader();
    const wire = encodeFrame(1, FrameType.Request, Buffer.from('hello'));
    expect(reader.push(wire.subarray(0, 12))).toEqual([]);
    expect(reader.buffered).toBe(12);
    expect(reader.push(wire.subarray(12))).toHaveLength(1);
  });

  it('reports an oversize frame by its header and drops its data as it passes, then reads the next frame', () => {
    const length = maxDataSize + 1;
    const header = Buffer.alloc(headerSize);
    header.writeUInt32BE(length, 0);
    header.writeUInt32BE(9, 4);
    header.writeUInt8(FrameType.Request, 8);
    const next = encodeFrame(11, FrameType.Request, Buffer.from('after'));
    const reader = new FrameReader();
    expect(reader.push(header)).toEqual([{ kind: 'oversize', streamId: 9, type: FrameType.Request, length }]);
    let held = 0;
    const body = Buffer.alloc(64 * 1024);
    let events: ReadEvent[] = [];
    for (let sent = 0; sent < length; sent += body.length) {
      events = reader.push(body.subarray(0, Math.min(body.length, length - sent)));
      held = Math.max(held, reader.buffered);
      expect(events).toEqual([]);
    }
    expect(held).toBe(0);
    events = reader.push(next);
    expect(events).toEqual([{ kind: 'frame', frame: { streamId: 11, type: FrameType.Request, flags: 0, data: Buffer.from('after') } }]);
  });

  it('accepts a frame of exactly the maximum size', () => {
    const data = Buffer.alloc(maxDataSize, 1);
    const [event] = cut(encodeFrame(1, FrameType.Response, data), 1 << 20);
    expect(event?.kind === 'frame' && event.frame.data.length).toBe(maxDataSize);
  });
});
