import { ByteQueue } from './byte-queue.ts';
import { CLIENT_PREFACE, DEFAULT_MAX_FRAME, ErrorCode, Flag, FRAME_HEADER, FrameType, H2Error, MAX_FRAME_LIMIT, MAX_WINDOW, Setting } from './frames.ts';
import { HpackDecoder } from './hpack.ts';
import { MAX_HEADER_BLOCK_FRAMES } from './limits.ts';
import type { Headers } from './stream.ts';

/** The peer's SETTINGS that change what we do (the last value of each, when the frame had one). */
export interface PeerSettings {
  initialWindow: number | undefined;
  maxFrameSize: number | undefined;
}

/**
 * What the frames mean, for the connection to act on. The reader has checked what a frame can be
 * checked for on its own; a method throws H2Error for a connection error.
 */
export interface FrameHandler {
  /** DATA on a stream (not 0), its payload still padded: the padding counts against the windows (see unpadData) */
  receiveData(id: number, flags: number, payload: Buffer): void;
  /** a whole header block (HEADERS and its CONTINUATIONs), decoded */
  receiveHeaders(id: number, headers: Headers, endStream: boolean): void;
  receiveReset(id: number, code: number): void;
  receiveSettings(settings: PeerSettings): void;
  /** a PING that wants its ACK */
  receivePing(payload: Buffer): void;
  receiveGoaway(lastStreamId: number, code: number): void;
  receiveWindowUpdate(id: number, increment: number): void;
  /** the peer broke the protocol on one stream (a frame of the wrong size): reset it */
  streamError(id: number, code: number): void;
}

export interface ReaderOptions {
  /** a server reads the client preface first */
  server: boolean;
  /** the largest frame payload accepted */
  maxFrameSize: number;
  /** the largest header list accepted (HPACK sizes) */
  maxHeaderListSize: number;
}

/** The data of a DATA frame: its payload without the padding. */
export function unpadData(flags: number, payload: Buffer): Buffer {
  if (!(flags & Flag.PADDED)) return payload;
  const length = payload.length;
  const pad = payload[0] ?? 0;
  if (length === 0 || pad >= length) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'padding longer than the frame');
  return payload.subarray(1, length - pad);
}

function headersOf(fields: string[]): Headers {
  const headers: Headers = Object.create(null) as Headers;
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    const value = fields[i + 1]!;
    const seen = headers[name];
    if (seen === undefined) headers[name] = value;
    else if (Array.isArray(seen)) seen.push(value);
    else headers[name] = [seen, value];
  }
  return headers;
}

/**
 * The input side of a connection: bytes from the socket in any chunking, cut into frames, each
 * checked for what it can be on its own (sizes, stream 0 or not, padding, the order of frames)
 * and handed to the connection (FrameHandler); header blocks are gathered across CONTINUATION
 * frames, bounded, and HPACK-decoded.
 */
export class FrameReader {
  private readonly input = new ByteQueue();
  private readonly decoder: HpackDecoder;
  private readonly maxFrameSize: number;
  /** a header block's size bound: the header list's plus one frame's worth of HPACK overhead */
  private readonly maxHeaderBlock: number;
  private prefacePending: boolean;
  private settingsSeen = false;
  /** a header block still waiting for CONTINUATION frames */
  private continuation: { id: number; endStream: boolean; parts: Buffer[]; size: number; frames: number } | undefined;
  /** the connection is closed: the rest of the input is not read */
  private stopped = false;

  constructor(
    options: ReaderOptions,
    private readonly handler: FrameHandler,
  ) {
    this.maxFrameSize = options.maxFrameSize;
    this.maxHeaderBlock = options.maxHeaderListSize + options.maxFrameSize;
    this.decoder = new HpackDecoder(4096, options.maxHeaderListSize);
    this.prefacePending = options.server;
  }

  /** Reads the frames a chunk completes; throws H2Error or HpackError for a connection error. */
  read(chunk: Buffer): void {
    const input = this.input;
    input.push(chunk);
    if (this.prefacePending) {
      if (input.length < CLIENT_PREFACE.length) return;
      if (!input.take(CLIENT_PREFACE.length).equals(CLIENT_PREFACE)) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'not an HTTP/2 client preface');
      this.prefacePending = false;
    }
    while (input.length >= FRAME_HEADER && !this.stopped) {
      const head = input.peek(FRAME_HEADER);
      const length = (head[0]! << 16) | (head[1]! << 8) | head[2]!;
      if (length > this.maxFrameSize) throw new H2Error(ErrorCode.FRAME_SIZE_ERROR, `frame of ${length} bytes, over the ${this.maxFrameSize} allowed`);
      if (input.length < FRAME_HEADER + length) return;
      const buf = input.take(FRAME_HEADER + length);
      this.onFrame(buf[3]!, buf[4]!, buf.readUInt32BE(5) & 0x7fffffff, buf.subarray(FRAME_HEADER));
    }
  }

  /** Reads no more (the connection is closed). */
  stop(): void {
    this.stopped = true;
  }

  private onFrame(type: number, flags: number, id: number, payload: Buffer): void {
    if (this.continuation && type !== FrameType.CONTINUATION) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'a header block was interrupted');
    if (!this.settingsSeen) {
      if (type !== FrameType.SETTINGS || flags & Flag.ACK) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'the first frame must be SETTINGS');
      this.settingsSeen = true;
    }
    const handler = this.handler;
    switch (type) {
      case FrameType.DATA:
        if (id === 0) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'DATA on stream 0');
        handler.receiveData(id, flags, payload);
        break;
      case FrameType.HEADERS:
        this.onHeaders(flags, id, payload);
        break;
      case FrameType.CONTINUATION:
        this.onContinuation(flags, id, payload);
        break;
      case FrameType.PRIORITY:
        if (id === 0) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'PRIORITY on stream 0');
        if (payload.length !== 5) handler.streamError(id, ErrorCode.FRAME_SIZE_ERROR);
        break;
      case FrameType.RST_STREAM:
        if (id === 0) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'RST_STREAM on stream 0');
        if (payload.length !== 4) throw new H2Error(ErrorCode.FRAME_SIZE_ERROR, 'RST_STREAM of a wrong size');
        handler.receiveReset(id, payload.readUInt32BE(0));
        break;
      case FrameType.SETTINGS:
        this.onSettings(flags, id, payload);
        break;
      case FrameType.PUSH_PROMISE:
        throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'PUSH_PROMISE, though push is off');
      case FrameType.PING:
        if (id !== 0) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'PING on a stream');
        if (payload.length !== 8) throw new H2Error(ErrorCode.FRAME_SIZE_ERROR, 'PING of a wrong size');
        if (!(flags & Flag.ACK)) handler.receivePing(payload);
        break;
      case FrameType.GOAWAY:
        if (id !== 0) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'GOAWAY on a stream');
        if (payload.length < 8) throw new H2Error(ErrorCode.FRAME_SIZE_ERROR, 'GOAWAY too short');
        handler.receiveGoaway(payload.readUInt32BE(0) & 0x7fffffff, payload.readUInt32BE(4));
        break;
      case FrameType.WINDOW_UPDATE:
        if (payload.length !== 4) throw new H2Error(ErrorCode.FRAME_SIZE_ERROR, 'WINDOW_UPDATE of a wrong size');
        handler.receiveWindowUpdate(id, payload.readUInt32BE(0) & 0x7fffffff);
        break;
      default:
      // unknown frame types are ignored (RFC 9113 §4.1)
    }
  }

  private onHeaders(flags: number, id: number, payload: Buffer): void {
    if (id === 0) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'HEADERS on stream 0');
    let start = 0;
    let end = payload.length;
    if (flags & Flag.PADDED) {
      end -= payload[0] ?? 0;
      start = 1;
    }
    if (flags & Flag.PRIORITY) start += 5;
    if (start > end) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'HEADERS padding longer than the frame');
    const fragment = payload.subarray(start, end);
    const endStream = (flags & Flag.END_STREAM) !== 0;
    if (flags & Flag.END_HEADERS) this.onHeaderBlock(id, endStream, fragment);
    // copied: a part must not pin the whole chunk it was read in
    else this.continuation = { id, endStream, parts: [Buffer.from(fragment)], size: FRAME_HEADER + fragment.length, frames: 1 };
  }

  private onContinuation(flags: number, id: number, payload: Buffer): void {
    const c = this.continuation;
    if (!c || c.id !== id) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'CONTINUATION without a header block');
    // frame headers count too, or empty CONTINUATION frames could come without end (CVE-2024-27316)
    c.size += FRAME_HEADER + payload.length;
    if (++c.frames > MAX_HEADER_BLOCK_FRAMES) throw new H2Error(ErrorCode.ENHANCE_YOUR_CALM, `a header block in more than ${MAX_HEADER_BLOCK_FRAMES} frames`);
    if (c.size > this.maxHeaderBlock) throw new H2Error(ErrorCode.ENHANCE_YOUR_CALM, `a header block over ${this.maxHeaderBlock} bytes`);
    if (payload.length > 0) c.parts.push(Buffer.from(payload));
    if (!(flags & Flag.END_HEADERS)) return;
    this.continuation = undefined;
    this.onHeaderBlock(id, c.endStream, Buffer.concat(c.parts));
  }

  private onHeaderBlock(id: number, endStream: boolean, block: Buffer): void {
    // decoded whatever becomes of the stream, refused too: the HPACK table must follow every block
    this.handler.receiveHeaders(id, headersOf(this.decoder.decode(block)), endStream);
  }

  private onSettings(flags: number, id: number, payload: Buffer): void {
    if (id !== 0) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'SETTINGS on a stream');
    if (flags & Flag.ACK) {
      if (payload.length !== 0) throw new H2Error(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS ack with a payload');
      return;
    }
    if (payload.length % 6 !== 0) throw new H2Error(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS of a wrong size');
    const settings: PeerSettings = { initialWindow: undefined, maxFrameSize: undefined };
    for (let at = 0; at < payload.length; at += 6) {
      const key = payload.readUInt16BE(at);
      const value = payload.readUInt32BE(at + 2);
      if (key === Setting.INITIAL_WINDOW_SIZE) {
        if (value > MAX_WINDOW) throw new H2Error(ErrorCode.FLOW_CONTROL_ERROR, 'initial window too large');
        settings.initialWindow = value;
      } else if (key === Setting.MAX_FRAME_SIZE) {
        if (value < DEFAULT_MAX_FRAME || value > MAX_FRAME_LIMIT) throw new H2Error(ErrorCode.PROTOCOL_ERROR, `MAX_FRAME_SIZE ${value} out of range`);
        settings.maxFrameSize = value;
      } else if (key === Setting.ENABLE_PUSH && value > 1) {
        throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'ENABLE_PUSH must be 0 or 1');
      }
      // HEADER_TABLE_SIZE: our encoder keeps no dynamic table; the rest are limits we stay under
    }
    this.handler.receiveSettings(settings);
  }
}
