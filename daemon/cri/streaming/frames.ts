import { createInflate, type Inflate } from 'node:zlib';
import { spdyDictionary } from './dictionary.ts';

/**
 * SPDY/3.1 framing (SPDY Protocol Draft 3.1): the frame layout, the control frames' bodies and
 * the compressed name/value header blocks. No I/O here; session.ts drives it.
 *
 *   control frame: C=1 | version (15 bits, 3) | type (16) | flags (8) | length (24) | body
 *   data frame:    C=0 | stream id (31)                    | flags (8) | length (24) | data
 */

export const spdyVersion = 3;
export const frameHeaderSize = 8;

export const FrameType = {
  synStream: 1,
  synReply: 2,
  rstStream: 3,
  settings: 4,
  ping: 6,
  goAway: 7,
  headers: 8,
  windowUpdate: 9,
} as const;

export const flagFin = 0x01;
/** SYN_STREAM: the sender will not read (its peer must not send on this stream) */
export const flagUnidirectional = 0x02;

/** RST_STREAM status codes. */
export const RstStatus = {
  protocolError: 1,
  invalidStream: 2,
  refusedStream: 3,
  unsupportedVersion: 4,
  cancel: 5,
  internalError: 6,
  flowControlError: 7,
  streamInUse: 8,
  streamAlreadyClosed: 9,
  frameTooLarge: 11,
} as const;

/** GOAWAY status codes. */
export const GoAwayStatus = { ok: 0, protocolError: 1, internalError: 2 } as const;

export const SettingId = { maxConcurrentStreams: 4, initialWindowSize: 7 } as const;

/** Both windows start at 64 KiB (section 2.6.8). */
export const defaultWindow = 64 * 1024;
export const maxWindow = 0x7fffffff;

export type Frame =
  | { data: true; streamId: number; flags: number; payload: Buffer }
  | { data: false; version: number; type: number; flags: number; payload: Buffer };

/** A frame the peer got wrong. streamId set: only that stream is reset; else the session ends (GOAWAY). */
export class SpdyProtocolError extends Error {
  constructor(
    message: string,
    readonly streamId?: number,
    readonly status: number = RstStatus.protocolError,
  ) {
    super(message);
  }
}

/**
 * Cuts frames out of the bytes read. A frame longer than maxFrame: a data frame's bytes are
 * skipped and reported (its stream is reset with FRAME_TOO_LARGE), a control frame's end the
 * session (its header block cannot be skipped without desynchronising the compression).
 */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  private skip = 0;

  constructor(private readonly maxFrame: number) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
  }

  /** The next whole frame, or undefined until more bytes arrive. Throws SpdyProtocolError. */
  next(): Frame | undefined {
    if (this.skip > 0) {
      const n = Math.min(this.skip, this.buf.length);
      this.buf = this.buf.subarray(n);
      this.skip -= n;
      if (this.skip > 0) return undefined;
    }
    if (this.buf.length < frameHeaderSize) return undefined;
    const control = (this.buf[0]! & 0x80) !== 0;
    const flags = this.buf[4]!;
    const length = this.buf.readUIntBE(5, 3);
    if (length > this.maxFrame) {
      if (control) throw new SpdyProtocolError(`a control frame of ${length} bytes (at most ${this.maxFrame})`);
      const streamId = this.buf.readUInt32BE(0) & 0x7fffffff;
      this.buf = this.buf.subarray(frameHeaderSize);
      this.skip = length;
      throw new SpdyProtocolError(`a data frame of ${length} bytes (at most ${this.maxFrame})`, streamId, RstStatus.frameTooLarge);
    }
    if (this.buf.length < frameHeaderSize + length) return undefined;
    const payload = Buffer.from(this.buf.subarray(frameHeaderSize, frameHeaderSize + length));
    const head = this.buf;
    this.buf = this.buf.subarray(frameHeaderSize + length);
    if (!control) return { data: true, streamId: head.readUInt32BE(0) & 0x7fffffff, flags, payload };
    return { data: false, version: head.readUInt16BE(0) & 0x7fff, type: head.readUInt16BE(2), flags, payload };
  }

  /** Bytes held that are not a whole frame yet. */
  get buffered(): number {
    return this.buf.length;
  }
}

function controlFrame(type: number, flags: number, body: Buffer): Buffer {
  const head = Buffer.alloc(frameHeaderSize);
  head.writeUInt16BE(0x8000 | spdyVersion, 0);
  head.writeUInt16BE(type, 2);
  head.writeUInt32BE(body.length, 4);
  head[4] = flags;
  return Buffer.concat([head, body]);
}

export function dataFrame(streamId: number, flags: number, data: Buffer): Buffer {
  const head = Buffer.alloc(frameHeaderSize);
  head.writeUInt32BE(streamId & 0x7fffffff, 0);
  head.writeUInt32BE(data.length, 4);
  head[4] = flags;
  return Buffer.concat([head, data]);
}

const u32s = (...values: number[]) => {
  const b = Buffer.alloc(4 * values.length);
  for (const [i, v] of values.entries()) b.writeUInt32BE(v >>> 0, 4 * i);
  return b;
};

export function synStreamFrame(streamId: number, flags: number, headerBlock: Buffer, associatedId = 0, priority = 0): Buffer {
  const body = Buffer.concat([u32s(streamId & 0x7fffffff, associatedId & 0x7fffffff), Buffer.from([(priority & 7) << 5, 0]), headerBlock]);
  return controlFrame(FrameType.synStream, flags, body);
}

export function synReplyFrame(streamId: number, flags: number, headerBlock: Buffer): Buffer {
  return controlFrame(FrameType.synReply, flags, Buffer.concat([u32s(streamId & 0x7fffffff), headerBlock]));
}

export function rstStreamFrame(streamId: number, status: number): Buffer {
  return controlFrame(FrameType.rstStream, 0, u32s(streamId & 0x7fffffff, status));
}

export function settingsFrame(entries: Array<{ id: number; value: number; flags?: number }>): Buffer {
  const body = Buffer.alloc(4 + 8 * entries.length);
  body.writeUInt32BE(entries.length, 0);
  entries.forEach((e, i) => {
    body.writeUInt32BE(e.id & 0xffffff, 4 + 8 * i);
    body[4 + 8 * i] = e.flags ?? 0;
    body.writeUInt32BE(e.value >>> 0, 8 + 8 * i);
  });
  return controlFrame(FrameType.settings, 0, body);
}

export function pingFrame(id: number): Buffer {
  return controlFrame(FrameType.ping, 0, u32s(id));
}

export function goAwayFrame(lastGoodStreamId: number, status: number): Buffer {
  return controlFrame(FrameType.goAway, 0, u32s(lastGoodStreamId & 0x7fffffff, status));
}

export function windowUpdateFrame(streamId: number, delta: number): Buffer {
  return controlFrame(FrameType.windowUpdate, 0, u32s(streamId & 0x7fffffff, delta & 0x7fffffff));
}

/** The fixed-size parts of the control frames berth reads; a body of the wrong size is a protocol error. */
export type Control =
  | { type: 'synStream'; streamId: number; associatedId: number; priority: number; flags: number; headerBlock: Buffer }
  | { type: 'synReply' | 'headers'; streamId: number; flags: number; headerBlock: Buffer }
  | { type: 'rstStream'; streamId: number; status: number }
  | { type: 'settings'; entries: Array<{ id: number; value: number; flags: number }> }
  | { type: 'ping'; id: number }
  | { type: 'goAway'; lastGoodStreamId: number; status: number }
  | { type: 'windowUpdate'; streamId: number; delta: number }
  | { type: 'unknown'; code: number };

export function parseControl(f: Extract<Frame, { data: false }>): Control {
  const p = f.payload;
  const need = (n: number, what: string, exact = true) => {
    if (exact ? p.length !== n : p.length < n) throw new SpdyProtocolError(`${what} with a body of ${p.length} bytes`);
  };
  const id = (at: number) => p.readUInt32BE(at) & 0x7fffffff;
  switch (f.type) {
    case FrameType.synStream:
      need(10, 'SYN_STREAM', false);
      return { type: 'synStream', streamId: id(0), associatedId: id(4), priority: p[8]! >> 5, flags: f.flags, headerBlock: p.subarray(10) };
    case FrameType.synReply:
    case FrameType.headers:
      need(4, f.type === FrameType.synReply ? 'SYN_REPLY' : 'HEADERS', false);
      return { type: f.type === FrameType.synReply ? 'synReply' : 'headers', streamId: id(0), flags: f.flags, headerBlock: p.subarray(4) };
    case FrameType.rstStream:
      need(8, 'RST_STREAM');
      return { type: 'rstStream', streamId: id(0), status: p.readUInt32BE(4) };
    case FrameType.settings: {
      need(4, 'SETTINGS', false);
      const n = p.readUInt32BE(0);
      if (p.length !== 4 + 8 * n) throw new SpdyProtocolError(`SETTINGS of ${n} entries in ${p.length} bytes`);
      const entries = [];
      for (let i = 0; i < n; i++) entries.push({ flags: p[4 + 8 * i]!, id: p.readUIntBE(5 + 8 * i, 3), value: p.readUInt32BE(8 + 8 * i) });
      return { type: 'settings', entries };
    }
    case FrameType.ping:
      need(4, 'PING');
      return { type: 'ping', id: p.readUInt32BE(0) };
    case FrameType.goAway:
      need(8, 'GOAWAY');
      return { type: 'goAway', lastGoodStreamId: id(0), status: p.readUInt32BE(4) };
    case FrameType.windowUpdate:
      need(8, 'WINDOW_UPDATE');
      return { type: 'windowUpdate', streamId: id(0), delta: p.readUInt32BE(4) & 0x7fffffff };
    default:
      return { type: 'unknown', code: f.type };
  }
}

/** Header names and values; a name repeated has its values NUL-joined on the wire. */
export type Headers = Map<string, string[]>;

/** The uncompressed name/value block: a 32-bit count, then 32-bit-length names and values. */
export function encodeHeaderBlock(headers: Iterable<[string, string]>): Buffer {
  const joined = new Map<string, string[]>();
  for (const [k, v] of headers) joined.set(k.toLowerCase(), [...(joined.get(k.toLowerCase()) ?? []), v]);
  const parts: Buffer[] = [u32s(joined.size)];
  for (const [k, vs] of joined) {
    const name = Buffer.from(k, 'utf8');
    const value = Buffer.from(vs.join('\0'), 'utf8');
    parts.push(u32s(name.length), name, u32s(value.length), value);
  }
  return Buffer.concat(parts);
}

/** Reads an uncompressed name/value block; names must be lower case and not repeat (section 2.6.10). */
export function decodeHeaderBlock(block: Buffer, streamId?: number): Headers {
  const bad = (what: string) => new SpdyProtocolError(`header block: ${what}`, streamId);
  let at = 0;
  const u32 = () => {
    if (at + 4 > block.length) throw bad('truncated');
    const v = block.readUInt32BE(at);
    at += 4;
    return v;
  };
  const bytes = (n: number) => {
    if (at + n > block.length) throw bad('truncated');
    const b = block.subarray(at, at + n);
    at += n;
    return b;
  };
  const count = u32();
  // each pair takes at least 8 bytes: a count beyond that is a lie, not a reason to loop
  if (count > (block.length - 4) / 8) throw bad(`${count} pairs in ${block.length} bytes`);
  const headers: Headers = new Map();
  for (let i = 0; i < count; i++) {
    const name = bytes(u32()).toString('utf8');
    const value = bytes(u32()).toString('utf8');
    if (name === '') throw bad('an empty name');
    if (name !== name.toLowerCase()) throw bad(`the name ${JSON.stringify(name)} is not lower case`);
    if (headers.has(name)) throw bad(`the name ${JSON.stringify(name)} twice`);
    headers.set(name, value.split('\0'));
  }
  if (at !== block.length) throw bad(`${block.length - at} bytes after the last pair`);
  return headers;
}

/**
 * The sending side's header compression: one zlib stream per direction (section 2.6.10.1),
 * written here as zlib's stored (uncompressed) blocks. A valid zlib stream with the SPDY
 * dictionary's id, so any inflater with the dictionary reads it; berth's header blocks are a
 * few bytes, nothing worth compressing, and the writer stays synchronous.
 */
export class HeaderDeflater {
  private started = false;

  deflate(block: Buffer): Buffer {
    const parts: Buffer[] = [];
    if (!this.started) {
      this.started = true;
      // CMF 0x78 (deflate, 32K window); FLG 0x20: FDICT, and (0x7820 % 31) == 0 so FCHECK is 0
      parts.push(Buffer.from([0x78, 0x20]), u32s(adler32(spdyDictionary)));
    }
    const stored = (piece: Buffer) => {
      const head = Buffer.alloc(5);
      head[0] = 0; // BFINAL 0, BTYPE 00 (stored): the stream goes on with the next frame
      head.writeUInt16LE(piece.length, 1);
      head.writeUInt16LE(~piece.length & 0xffff, 3);
      parts.push(head, piece);
    };
    for (let at = 0; at < block.length; at += 0xffff) stored(block.subarray(at, at + 0xffff));
    // and an empty one, the sync-flush marker: an inflater hands out what it holds when it reads
    // it (Go's stops at the block's end otherwise, and reads on into the next frame's bytes)
    stored(Buffer.alloc(0));
    return Buffer.concat(parts);
  }
}

export function adler32(buf: Buffer): number {
  let a = 1;
  let b = 0;
  for (const x of buf) {
    a = (a + x) % 65521;
    b = (b + a) % 65521;
  }
  return ((b << 16) | a) >>> 0;
}

/**
 * The receiving side's header decompression: one zlib inflate stream for the session, fed each
 * header block in order, the output of each bounded (a small block can inflate to a lot).
 */
export class HeaderInflater {
  private readonly inflate: Inflate = createInflate({ dictionary: spdyDictionary });
  private failed: Error | undefined;
  private out: Buffer[] = [];
  private outLength = 0;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly maxBlock: number) {
    this.inflate.on('data', (chunk: Buffer) => {
      this.outLength += chunk.length;
      if (this.outLength <= this.maxBlock) this.out.push(chunk);
    });
    this.inflate.on('error', (err) => {
      this.failed = err;
    });
  }

  /** The next block's bytes, uncompressed; blocks are taken in the order given. */
  decompress(block: Buffer): Promise<Buffer> {
    const run = this.queue.then(() => this.one(block));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private one(block: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      if (this.failed) return reject(new SpdyProtocolError(`header compression: ${this.failed.message}`));
      this.out = [];
      this.outLength = 0;
      // an inflate that fails may never call flush's callback
      const failed = (err: Error) => reject(new SpdyProtocolError(`header compression: ${err.message}`));
      this.inflate.once('error', failed);
      this.inflate.write(block);
      this.inflate.flush(2 /* Z_SYNC_FLUSH */, () => {
        this.inflate.off('error', failed);
        if (this.failed) return reject(new SpdyProtocolError(`header compression: ${this.failed.message}`));
        if (this.outLength > this.maxBlock) return reject(new SpdyProtocolError(`a header block of more than ${this.maxBlock} bytes`));
        resolve(Buffer.concat(this.out));
      });
    });
  }

  close(): void {
    this.inflate.destroy();
  }
}
