// ttrpc framing (containerd/ttrpc PROTOCOL.md, v1.1.1 channel.go): a 10-byte header, then the
// data. Header: uint32 length (of the data) | uint32 stream id | uint8 type | uint8 flags, both
// uint32 big-endian.

export const headerSize = 10;
/** The largest data a frame may carry (ttrpc's messageLengthMax). */
export const maxDataSize = 4 << 20;

export const FrameType = { Request: 1, Response: 2, Data: 3 } as const;

export interface Frame {
  streamId: number;
  type: number;
  flags: number;
  data: Buffer;
}

/**
 * What the reader found: a whole frame, or the header of a frame whose data is over maxDataSize
 * (its data is skipped, never held: the stream can be answered and the connection goes on).
 */
export type ReadEvent = { kind: 'frame'; frame: Frame } | { kind: 'oversize'; streamId: number; type: number; length: number };

/** The bytes of one frame: its header and data. */
export function encodeFrame(streamId: number, type: number, data: Uint8Array, flags = 0): Buffer {
  const out = Buffer.allocUnsafe(headerSize + data.length);
  out.writeUInt32BE(data.length, 0);
  out.writeUInt32BE(streamId, 4);
  out.writeUInt8(type, 8);
  out.writeUInt8(flags, 9);
  out.set(data, headerSize);
  return out;
}

/**
 * Cuts a byte stream into frames, whatever the sizes of the chunks it arrives in. Beyond the
 * chunks appended and not yet cut, it holds at most one incomplete frame (≤ headerSize +
 * maxDataSize bytes); the data of an oversize frame is dropped as it passes, never held whole.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  /** bytes held in chunks */
  buffered = 0;
  /** data bytes of an oversize frame still to drop */
  private skipping = 0;

  /** Appends a chunk and returns every event it completes. */
  push(chunk: Buffer): ReadEvent[] {
    this.append(chunk);
    const events: ReadEvent[] = [];
    for (let e = this.next(); e; e = this.next()) events.push(e);
    return events;
  }

  /** Appends a chunk, for next() to cut (a reader that may stop between frames: a server under load). */
  append(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /** The next event of the bytes appended so far, or undefined when they hold no whole one yet. */
  next(): ReadEvent | undefined {
    if (this.skipping > 0) {
      const n = Math.min(this.skipping, this.buffered);
      this.drop(n);
      this.skipping -= n;
      if (this.skipping > 0) return undefined;
    }
    if (this.buffered < headerSize) return undefined;
    const header = this.peek(headerSize);
    const length = header.readUInt32BE(0);
    const streamId = header.readUInt32BE(4);
    const type = header.readUInt8(8);
    const flags = header.readUInt8(9);
    if (length > maxDataSize) {
      this.drop(headerSize);
      const n = Math.min(length, this.buffered);
      this.drop(n);
      this.skipping = length - n;
      return { kind: 'oversize', streamId, type, length };
    }
    if (this.buffered < headerSize + length) return undefined;
    this.drop(headerSize);
    return { kind: 'frame', frame: { streamId, type, flags, data: this.take(length) } };
  }

  /** The first n buffered bytes, without consuming them (n ≤ buffered). */
  private peek(n: number): Buffer {
    if (this.chunks[0]!.length < n) {
      // join only the chunks that hold the first n bytes (joining all of them at every small chunk is quadratic)
      let count = 0;
      let length = 0;
      while (length < n) length += this.chunks[count++]!.length;
      this.chunks.splice(0, count, Buffer.concat(this.chunks.slice(0, count), length));
    }
    return this.chunks[0]!.subarray(0, n);
  }

  /** Consumes and returns the first n buffered bytes (n ≤ buffered). */
  private take(n: number): Buffer {
    const parts = this.drop(n);
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, n);
  }

  /** Consumes the first n buffered bytes (n ≤ buffered), returning them as the pieces they were in. */
  private drop(n: number): Buffer[] {
    this.buffered -= n;
    let whole = 0; // chunks consumed whole, removed at once (one shift each is quadratic)
    while (n > 0 && this.chunks[whole]!.length <= n) n -= this.chunks[whole++]!.length;
    const parts = this.chunks.splice(0, whole);
    if (n > 0) {
      const c = this.chunks[0]!;
      parts.push(c.subarray(0, n));
      this.chunks[0] = c.subarray(n);
    }
    return parts;
  }
}
