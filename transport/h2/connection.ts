import type { Socket } from 'node:net';
import { ByteQueue } from './byte-queue.ts';
import {
  CLIENT_PREFACE,
  DEFAULT_MAX_FRAME,
  DEFAULT_WINDOW,
  ErrorCode,
  Flag,
  FRAME_HEADER,
  FrameType,
  frame,
  goawayFrame,
  MAX_FRAME_LIMIT,
  MAX_WINDOW,
  rstStreamFrame,
  Setting,
  settingsFrame,
  windowUpdateFrame,
  writeFrameHeader,
} from './frames.ts';
import { HpackDecoder, HpackEncoder, HpackError } from './hpack.ts';
import { DEFAULT_MAX_STREAMS, MAX_HEADER_BLOCK_FRAMES, MAX_QUEUED_CONTROL, MAX_QUEUED_DATA, RESET_BURST, RESETS_PER_SECOND, TokenBucket } from './limits.ts';
import { H2Stream, type HeaderBlock, type Headers, STREAM_HIGH_WATER, type StreamOwner } from './stream.ts';

/**
 * HTTP/2 (RFC 9113) over one socket, for gRPC on berth's unix sockets, as a server or a client.
 *
 * Why not node:http2: its per-stream objects and the crossings between nghttp2 and JavaScript
 * cost ~40 µs of CPU per unary call, more than a whole call costs containerd. This connection
 * parses every frame of a read in one pass, answers with header blocks the caller may encode
 * once, and writes everything one tick produced in one write.
 *
 * What it does: the preface and SETTINGS exchange, HPACK, CONTINUATION, padding, both levels of
 * flow control in both directions, PING, RST_STREAM, GOAWAY (graceful or on a protocol error).
 * What it leaves out, as gRPC never needs it: server push, priorities (read and ignored), TLS,
 * and HTTP/1.1 upgrade.
 *
 * What a peer can make it hold is bounded (limits.ts): the connection window is given back only
 * as streams' data is consumed; header blocks have a size and a frame count; open streams have a
 * number, and new ones are refused while answers a client leaves unread fill its windows; a
 * server stops reading a client that does not read its socket once our output is congested;
 * and a peer goes away once it owes too many replies or resets too many streams.
 */

export type { HeaderBlock, Headers };
export { H2Stream };

/** A connection error: the peer broke the protocol, the connection ends with GOAWAY(code). */
export class H2Error extends Error {
  code: number;
  constructor(code: number, message: string) {
    super(message);
    this.code = code;
  }
}

export interface ConnectionOptions {
  role: 'server' | 'client';
  /** the receive window each stream gets, bytes */
  streamWindow?: number;
  /** the receive window of the whole connection, bytes */
  connectionWindow?: number;
  /** the largest frame payload accepted */
  maxFrameSize?: number;
  /** the largest header list accepted (HPACK sizes) */
  maxHeaderListSize?: number;
  /** streams the peer may open at once (server) */
  maxConcurrentStreams?: number;
}

/** Bytes the connection may hold unsent before every writer is asked to wait. */
const CONNECTION_HIGH_WATER = 1024 * 1024;
/** A DATA frame up to this size is copied into one buffer with its header. */
const COPY_LIMIT = 4096;

const settingsAck = frame(FrameType.SETTINGS, Flag.ACK, 0);
const noop = () => undefined;
const noData = Buffer.alloc(0);

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

export class H2Connection implements StreamOwner {
  readonly role: 'server' | 'client';
  readonly streamWindow: number;
  private readonly connectionWindow: number;
  private readonly maxFrameSize: number;
  private readonly maxHeaderBlock: number;
  private readonly maxStreams: number;
  private readonly streams = new Map<number, H2Stream>();
  private readonly socket: Socket;
  private readonly decoder: HpackDecoder;
  private readonly encoder = new HpackEncoder();
  private readonly input = new ByteQueue();

  /** a new request (server); its headers are in stream.headers */
  onStream: (stream: H2Stream) => void = noop;
  /** the connection is gone; every stream was closed first */
  onClose: () => void = noop;
  /** the peer sent GOAWAY: no new streams */
  onGoaway: (lastStreamId: number, code: number) => void = noop;

  closed = false;
  /** we or the peer sent GOAWAY: no new streams */
  goingAway = false;
  private prefacePending: boolean;
  private settingsSeen = false;
  /** a header block still waiting for CONTINUATION frames */
  private continuation: { id: number; endStream: boolean; parts: Buffer[]; size: number; frames: number } | undefined;
  /** the highest stream id the peer opened (server), or the next one we open (client) */
  private lastPeerStream = 0;
  private nextStream = 1;

  private sendWindow = DEFAULT_WINDOW;
  private recvWindow: number;
  private recvUnacked = 0;
  private peerInitialWindow = DEFAULT_WINDOW;
  private peerMaxFrame = DEFAULT_MAX_FRAME;
  private readonly blocked = new Set<H2Stream>();
  private readonly drainWaiters = new Set<H2Stream>();
  /** streams refused for being over the limits */
  private refused = 0;
  private readonly resets = new TokenBucket(RESET_BURST, RESETS_PER_SECOND);

  private out: Buffer[] = [];
  private outBytes = 0;
  /** DATA queued in the streams, waiting for window */
  queuedInStreams = 0;
  /** replies to the peer's frames in `out` */
  private queuedControl = 0;
  private readingPaused = false;
  private flushScheduled = false;
  private readonly flushNow = () => this.flush();

  constructor(socket: Socket, options: ConnectionOptions) {
    this.socket = socket;
    this.role = options.role;
    this.streamWindow = options.streamWindow ?? 1 << 20;
    this.connectionWindow = options.connectionWindow ?? 16 << 20;
    this.maxFrameSize = options.maxFrameSize ?? DEFAULT_MAX_FRAME;
    const maxHeaderListSize = options.maxHeaderListSize ?? 256 * 1024;
    this.maxHeaderBlock = maxHeaderListSize + this.maxFrameSize;
    this.maxStreams = options.maxConcurrentStreams ?? DEFAULT_MAX_STREAMS;
    this.decoder = new HpackDecoder(4096, maxHeaderListSize);
    this.recvWindow = this.connectionWindow;
    this.prefacePending = this.role === 'server';

    const settings: Array<[number, number]> = [
      [Setting.INITIAL_WINDOW_SIZE, this.streamWindow],
      [Setting.MAX_FRAME_SIZE, this.maxFrameSize],
      [Setting.MAX_HEADER_LIST_SIZE, maxHeaderListSize],
    ];
    if (this.role === 'client') {
      settings.unshift([Setting.ENABLE_PUSH, 0]);
      this.send(CLIENT_PREFACE);
    } else settings.unshift([Setting.MAX_CONCURRENT_STREAMS, this.maxStreams]);
    this.send(settingsFrame(settings));
    if (this.connectionWindow > DEFAULT_WINDOW) this.send(windowUpdateFrame(0, this.connectionWindow - DEFAULT_WINDOW));

    socket.on('data', (chunk: Buffer) => this.read(chunk));
    socket.on('drain', () => this.drained());
    socket.on('error', noop);
    socket.on('close', () => this.teardown());
  }

  /** Opens a stream with a request's header block (client). Throws once the connection is going away. */
  request(block: HeaderBlock, endStream = false): H2Stream {
    if (this.closed || this.goingAway) throw new H2Error(ErrorCode.REFUSED_STREAM, 'the connection is closing');
    const id = this.nextStream;
    if (id > MAX_WINDOW) {
      // a new connection takes over; this one ends once its streams have
      this.goaway();
      throw new H2Error(ErrorCode.REFUSED_STREAM, 'stream ids exhausted');
    }
    this.nextStream += 2;
    const stream = new H2Stream(this, id, this.streamWindow, this.peerInitialWindow);
    this.streams.set(id, stream);
    stream.respond(block, endStream);
    return stream;
  }

  /** Open streams. */
  get size(): number {
    return this.streams.size;
  }

  /** Graceful close: GOAWAY now, the socket ends once the open streams have. */
  goaway(): void {
    if (this.closed || this.goingAway) return;
    this.goingAway = true;
    this.send(goawayFrame(this.lastPeerStream, ErrorCode.NO_ERROR));
    this.endIfIdle();
  }

  destroy(): void {
    this.socket.destroy();
    this.teardown();
  }

  // --- output ---

  /** Queues bytes for the socket; everything queued in one tick goes in one write. */
  send(buf: Buffer): void {
    if (this.closed) return;
    this.out.push(buf);
    this.outBytes += buf.length;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(this.flushNow);
    }
  }

  /** A reply the peer's frames call for: counted while it waits, so that a peer that never reads cannot make them pile up. */
  private reply(buf: Buffer): void {
    if (++this.queuedControl > MAX_QUEUED_CONTROL) throw new H2Error(ErrorCode.ENHANCE_YOUR_CALM, 'too many replies queued for a peer that does not read');
    this.send(buf);
  }

  /** Hands what is queued to the socket, unless the socket still holds the last batch (`force`: regardless). */
  private flush(force = false): void {
    this.flushScheduled = false;
    if (this.closed || this.out.length === 0) return;
    if (this.socket.writableNeedDrain && !force) return;
    this.queuedControl = 0;
    const out = this.out;
    const bytes = this.outBytes;
    this.out = [];
    this.outBytes = 0;
    if (out.length === 1) this.socket.write(out[0]!);
    else if (bytes <= 64 * 1024) this.socket.write(Buffer.concat(out, bytes));
    else {
      this.socket.cork();
      for (const b of out) this.socket.write(b);
      this.socket.uncork();
    }
    if (!this.socket.writableNeedDrain) this.drained();
  }

  /** Too much is waiting for the socket: writers should wait. */
  get congested(): boolean {
    return this.outBytes + this.socket.writableLength > CONNECTION_HIGH_WATER;
  }

  waitDrain(stream: H2Stream): void {
    this.drainWaiters.add(stream);
  }

  private drained(): void {
    if (this.out.length > 0 && !this.flushScheduled) this.flush();
    if (this.congested) return;
    if (this.readingPaused) {
      this.readingPaused = false;
      this.socket.resume();
    }
    if (this.drainWaiters.size === 0) return;
    for (const s of [...this.drainWaiters]) {
      if (s.queued >= STREAM_HIGH_WATER) continue;
      this.drainWaiters.delete(s);
      s.wantDrain = false;
      s.onDrain();
    }
  }

  sendHeaders(id: number, block: HeaderBlock, endStream: boolean): void {
    const encoded = Buffer.isBuffer(block) ? block : this.encoder.encode(block);
    const endFlag = endStream ? Flag.END_STREAM : 0;
    if (encoded.length <= this.peerMaxFrame) {
      this.send(frame(FrameType.HEADERS, endFlag | Flag.END_HEADERS, id, encoded));
      return;
    }
    for (let at = 0; at < encoded.length; at += this.peerMaxFrame) {
      const piece = encoded.subarray(at, at + this.peerMaxFrame);
      const last = at + this.peerMaxFrame >= encoded.length ? Flag.END_HEADERS : 0;
      this.send(at === 0 ? frame(FrameType.HEADERS, endFlag | last, id, piece) : frame(FrameType.CONTINUATION, last, id, piece));
    }
  }

  /** Sends what the stream has queued, as far as both windows allow, then its end. */
  pump(s: H2Stream): void {
    while (s.queued > 0) {
      const room = Math.min(s.sendWindow, this.sendWindow, this.peerMaxFrame);
      if (room <= 0) {
        this.blocked.add(s);
        return;
      }
      const n = Math.min(room, s.queued);
      const endHere = n === s.queued && s.localEnded && s.trailers === undefined;
      this.sendData(s, n, endHere ? Flag.END_STREAM : 0);
      s.sendWindow -= n;
      this.sendWindow -= n;
      s.queued -= n;
      this.queuedInStreams -= n;
    }
    this.blocked.delete(s);
    if (s.localEnded) {
      if (!s.finSent) {
        s.finSent = true;
        if (s.trailers !== undefined) this.sendHeaders(s.id, s.trailers, true);
        else this.send(frame(FrameType.DATA, Flag.END_STREAM, s.id));
      }
      s.afterLocalEnd();
    } else if (s.wantDrain && s.queued < STREAM_HIGH_WATER && !this.congested) {
      this.drainWaiters.delete(s);
      s.wantDrain = false;
      s.onDrain();
    }
  }

  /** One DATA frame of the first n queued bytes. */
  private sendData(s: H2Stream, n: number, flags: number): void {
    if (flags & Flag.END_STREAM) s.finSent = true;
    const queue = s.queue;
    if (n <= COPY_LIMIT) {
      const buf = Buffer.allocUnsafe(FRAME_HEADER + n);
      writeFrameHeader(buf, 0, n, FrameType.DATA, flags, s.id);
      let at = FRAME_HEADER;
      while (at < buf.length) {
        const head = queue[0]!;
        const take = Math.min(head.length, buf.length - at);
        buf.set(take === head.length ? head : head.subarray(0, take), at);
        at += take;
        if (take === head.length) queue.shift();
        else queue[0] = head.subarray(take);
      }
      this.send(buf);
      return;
    }
    const header = Buffer.allocUnsafe(FRAME_HEADER);
    writeFrameHeader(header, 0, n, FrameType.DATA, flags, s.id);
    this.send(header);
    let left = n;
    while (left > 0) {
      const head = queue[0]!;
      if (head.length <= left) {
        queue.shift();
        this.send(head);
        left -= head.length;
      } else {
        this.send(head.subarray(0, left));
        queue[0] = head.subarray(left);
        left = 0;
      }
    }
  }

  forget(s: H2Stream): void {
    this.streams.delete(s.id);
    this.blocked.delete(s);
    this.drainWaiters.delete(s);
    this.endIfIdle();
  }

  private endIfIdle(): void {
    if (this.goingAway && this.streams.size === 0 && !this.closed) {
      this.flush(true);
      this.socket.end();
    }
  }

  // --- input ---

  private read(chunk: Buffer): void {
    if (this.closed) return;
    const input = this.input;
    input.push(chunk);
    try {
      if (this.prefacePending) {
        if (input.length < CLIENT_PREFACE.length) return;
        if (!input.take(CLIENT_PREFACE.length).equals(CLIENT_PREFACE)) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'not an HTTP/2 client preface');
        this.prefacePending = false;
      }
      while (input.length >= FRAME_HEADER && !this.closed) {
        const head = input.peek(FRAME_HEADER);
        const length = (head[0]! << 16) | (head[1]! << 8) | head[2]!;
        if (length > this.maxFrameSize) throw new H2Error(ErrorCode.FRAME_SIZE_ERROR, `frame of ${length} bytes, over the ${this.maxFrameSize} allowed`);
        if (input.length < FRAME_HEADER + length) return;
        const buf = input.take(FRAME_HEADER + length);
        this.onFrame(buf[3]!, buf[4]!, buf.readUInt32BE(5) & 0x7fffffff, buf.subarray(FRAME_HEADER));
      }
    } catch (err) {
      return this.fail(err);
    }
    // The peer is not reading what we owe it: read no more of it until it has. A server only: if
    // both ends of a connection did this while sending to each other, neither would read again.
    if (this.role === 'server' && this.congested && !this.readingPaused) {
      this.readingPaused = true;
      this.socket.pause();
    }
  }

  private onFrame(type: number, flags: number, id: number, payload: Buffer): void {
    if (this.continuation && type !== FrameType.CONTINUATION) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'a header block was interrupted');
    if (!this.settingsSeen) {
      if (type !== FrameType.SETTINGS || flags & Flag.ACK) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'the first frame must be SETTINGS');
      this.settingsSeen = true;
    }
    switch (type) {
      case FrameType.DATA:
        return this.onDataFrame(flags, id, payload);
      case FrameType.HEADERS:
        return this.onHeadersFrame(flags, id, payload);
      case FrameType.CONTINUATION:
        return this.onContinuation(flags, id, payload);
      case FrameType.PRIORITY:
        if (id === 0) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'PRIORITY on stream 0');
        if (payload.length !== 5) this.resetForPeer(this.streams.get(id), ErrorCode.FRAME_SIZE_ERROR);
        return;
      case FrameType.RST_STREAM:
        if (id === 0) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'RST_STREAM on stream 0');
        if (payload.length !== 4) throw new H2Error(ErrorCode.FRAME_SIZE_ERROR, 'RST_STREAM of a wrong size');
        this.checkKnown(id);
        return this.onReset(this.streams.get(id), payload.readUInt32BE(0));
      case FrameType.SETTINGS:
        return this.onSettings(flags, id, payload);
      case FrameType.PUSH_PROMISE:
        throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'PUSH_PROMISE, though push is off');
      case FrameType.PING:
        if (id !== 0) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'PING on a stream');
        if (payload.length !== 8) throw new H2Error(ErrorCode.FRAME_SIZE_ERROR, 'PING of a wrong size');
        if (!(flags & Flag.ACK)) this.reply(frame(FrameType.PING, Flag.ACK, 0, payload));
        return;
      case FrameType.GOAWAY:
        return this.onGoawayFrame(id, payload);
      case FrameType.WINDOW_UPDATE:
        return this.onWindowUpdate(id, payload);
      default:
      // unknown frame types are ignored (RFC 9113 §4.1)
    }
  }

  /** The peer reset a stream. Open streams reset in a loop would pile up work behind them (CVE-2023-44487): their rate is limited. */
  private onReset(s: H2Stream | undefined, code: number): void {
    if (!s) return;
    this.countReset();
    s.close(true, code);
  }

  /** Resets a stream for the peer's error on it; these count with the peer's own resets, as a peer could provoke them in a loop. */
  private resetForPeer(s: H2Stream | undefined, code: number): void {
    if (!s) return;
    this.countReset();
    this.reply(rstStreamFrame(s.id, code));
    s.close(true, code);
  }

  private countReset(): void {
    if (this.role === 'server' && !this.resets.take()) throw new H2Error(ErrorCode.ENHANCE_YOUR_CALM, 'too many streams reset');
  }

  /** A frame on a stream id the peer never opened (or we never did) breaks the protocol. */
  private checkKnown(id: number): void {
    const idle = this.role === 'server' ? id > this.lastPeerStream : id >= this.nextStream;
    if (idle) throw new H2Error(ErrorCode.PROTOCOL_ERROR, `frame on idle stream ${id}`);
  }

  private onDataFrame(flags: number, id: number, payload: Buffer): void {
    if (id === 0) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'DATA on stream 0');
    const length = payload.length;
    this.recvWindow -= length;
    if (this.recvWindow < 0) throw new H2Error(ErrorCode.FLOW_CONTROL_ERROR, 'DATA beyond the connection window');
    const s = this.streams.get(id);
    if (!s || s.remoteEnded) {
      this.checkKnown(id);
      this.creditConnection(length);
      this.resetForPeer(s, ErrorCode.STREAM_CLOSED);
      return;
    }
    let data = payload;
    if (flags & Flag.PADDED) {
      const pad = payload[0] ?? 0;
      if (length === 0 || pad >= length) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'padding longer than the frame');
      data = payload.subarray(1, length - pad);
    }
    s.recvWindow -= length;
    if (s.recvWindow < 0) {
      this.creditConnection(length);
      return this.resetForPeer(s, ErrorCode.FLOW_CONTROL_ERROR);
    }
    // the stream credits the connection as it delivers; padding is consumed at once
    if (data.length !== length) s.credit(length - data.length);
    s.receive(data, (flags & Flag.END_STREAM) !== 0);
  }

  /** Gives consumed bytes back to the peer's connection window, in updates of at least half of it. */
  creditConnection(n: number): void {
    if (this.closed) return;
    this.recvUnacked += n;
    if (this.recvUnacked < this.connectionWindow / 2) return;
    this.send(windowUpdateFrame(0, this.recvUnacked));
    this.recvWindow += this.recvUnacked;
    this.recvUnacked = 0;
  }

  private onHeadersFrame(flags: number, id: number, payload: Buffer): void {
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
    // decoded even for a stream that is refused: the HPACK table must follow every block
    const headers = headersOf(this.decoder.decode(block));
    const s = this.streams.get(id);
    if (s) {
      if (s.remoteEnded) return this.resetForPeer(s, ErrorCode.STREAM_CLOSED);
      if (this.role === 'client' && !s.headers[':status']) {
        s.headers = headers;
        s.onHeaders(headers, endStream);
      } else {
        if (this.role === 'server' && !endStream) return this.resetForPeer(s, ErrorCode.PROTOCOL_ERROR);
        s.onHeaders(headers, endStream);
      }
      if (endStream) s.receive(noData, true);
      return;
    }
    if (this.role === 'client') {
      this.checkKnown(id);
      return; // the answer to a stream we already closed
    }
    if (id % 2 === 0) throw new H2Error(ErrorCode.PROTOCOL_ERROR, `client stream id ${id} is even`);
    // a stream id must grow: an old one is a connection error (RFC 9113 §5.1.1)
    if (id <= this.lastPeerStream) throw new H2Error(ErrorCode.PROTOCOL_ERROR, `HEADERS on stream ${id}, which is closed`);
    this.lastPeerStream = id;
    if (this.goingAway) return this.reply(rstStreamFrame(id, ErrorCode.REFUSED_STREAM));
    // A client may have opened streams before our SETTINGS reached it; one that keeps on is told
    // to go. Answers a client leaves unread, held back by its windows, count as open streams would.
    if (this.streams.size >= this.maxStreams || this.queuedInStreams > MAX_QUEUED_DATA) {
      if (++this.refused > this.maxStreams) throw new H2Error(ErrorCode.ENHANCE_YOUR_CALM, 'streams opened past the limits');
      return this.reply(rstStreamFrame(id, ErrorCode.REFUSED_STREAM));
    }
    const stream = new H2Stream(this, id, this.streamWindow, this.peerInitialWindow);
    stream.headers = headers;
    this.streams.set(id, stream);
    this.onStream(stream);
    if (endStream) stream.receive(noData, true);
  }

  private onSettings(flags: number, id: number, payload: Buffer): void {
    if (id !== 0) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'SETTINGS on a stream');
    if (flags & Flag.ACK) {
      if (payload.length !== 0) throw new H2Error(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS ack with a payload');
      return;
    }
    if (payload.length % 6 !== 0) throw new H2Error(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS of a wrong size');
    let initialWindow = this.peerInitialWindow;
    for (let at = 0; at < payload.length; at += 6) {
      const key = payload.readUInt16BE(at);
      const value = payload.readUInt32BE(at + 2);
      if (key === Setting.INITIAL_WINDOW_SIZE) {
        if (value > MAX_WINDOW) throw new H2Error(ErrorCode.FLOW_CONTROL_ERROR, 'initial window too large');
        initialWindow = value;
      } else if (key === Setting.MAX_FRAME_SIZE) {
        if (value < DEFAULT_MAX_FRAME || value > MAX_FRAME_LIMIT) throw new H2Error(ErrorCode.PROTOCOL_ERROR, `MAX_FRAME_SIZE ${value} out of range`);
        this.peerMaxFrame = value;
      } else if (key === Setting.ENABLE_PUSH && value > 1) {
        throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'ENABLE_PUSH must be 0 or 1');
      }
      // HEADER_TABLE_SIZE: our encoder keeps no dynamic table; the rest are limits we stay under
    }
    // the last value is the one that holds: the streams' windows change once per frame, not per entry
    const delta = initialWindow - this.peerInitialWindow;
    this.peerInitialWindow = initialWindow;
    if (delta !== 0) {
      for (const s of this.streams.values()) {
        s.sendWindow += delta;
        if (s.sendWindow > MAX_WINDOW) throw new H2Error(ErrorCode.FLOW_CONTROL_ERROR, 'a stream window over 2^31-1');
      }
    }
    this.reply(settingsAck);
    this.pumpBlocked();
  }

  private onGoawayFrame(id: number, payload: Buffer): void {
    if (id !== 0) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'GOAWAY on a stream');
    if (payload.length < 8) throw new H2Error(ErrorCode.FRAME_SIZE_ERROR, 'GOAWAY too short');
    const last = payload.readUInt32BE(0) & 0x7fffffff;
    const code = payload.readUInt32BE(4);
    this.goingAway = true;
    if (this.role === 'client') {
      // streams the server never saw may be retried elsewhere
      for (const s of [...this.streams.values()]) if (s.id > last) s.close(true, ErrorCode.REFUSED_STREAM);
    }
    this.onGoaway(last, code);
    this.endIfIdle();
  }

  private onWindowUpdate(id: number, payload: Buffer): void {
    if (payload.length !== 4) throw new H2Error(ErrorCode.FRAME_SIZE_ERROR, 'WINDOW_UPDATE of a wrong size');
    const increment = payload.readUInt32BE(0) & 0x7fffffff;
    if (id === 0) {
      if (increment === 0) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0');
      this.sendWindow += increment;
      if (this.sendWindow > MAX_WINDOW) throw new H2Error(ErrorCode.FLOW_CONTROL_ERROR, 'connection window over 2^31-1');
      return this.pumpBlocked();
    }
    const s = this.streams.get(id);
    if (!s) return this.checkKnown(id);
    if (increment === 0) return this.resetForPeer(s, ErrorCode.PROTOCOL_ERROR);
    s.sendWindow += increment;
    if (s.sendWindow > MAX_WINDOW) return this.resetForPeer(s, ErrorCode.FLOW_CONTROL_ERROR);
    this.pump(s);
  }

  private pumpBlocked(): void {
    for (const s of [...this.blocked]) if (!s.closed) this.pump(s);
  }

  /** Ends the connection for a protocol error: GOAWAY with its code, then close. */
  private fail(err: unknown): void {
    const code = err instanceof H2Error ? err.code : err instanceof HpackError ? ErrorCode.COMPRESSION_ERROR : ErrorCode.INTERNAL_ERROR;
    // what was still queued is dropped: the GOAWAY is all the peer gets, soon or never
    this.out = [];
    this.outBytes = 0;
    this.send(goawayFrame(this.lastPeerStream, code, (err as Error).message));
    this.flush(true);
    // nothing more is read; a peer that does not read either would keep the socket and its
    // buffers forever: it has two seconds to take the GOAWAY
    this.socket.pause();
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 2000).unref();
    this.teardown();
  }

  private teardown(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of [...this.streams.values()]) s.close(true, ErrorCode.CANCEL);
    this.streams.clear();
    this.onClose();
  }
}
