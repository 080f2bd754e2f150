import type { Socket } from 'node:net';
import { FlowControl } from './flow.ts';
import { type FrameHandler, FrameReader, type PeerSettings, unpadData } from './frame-reader.ts';
import {
  CLIENT_PREFACE,
  DEFAULT_MAX_FRAME,
  DEFAULT_WINDOW,
  ErrorCode,
  Flag,
  FrameType,
  frame,
  goawayFrame,
  H2Error,
  MAX_WINDOW,
  rstStreamFrame,
  Setting,
  settingsFrame,
  windowUpdateFrame,
} from './frames.ts';
import { HpackError } from './hpack.ts';
import { DEFAULT_MAX_STREAMS } from './limits.ts';
import { H2Stream, type HeaderBlock, type Headers, type StreamOwner } from './stream.ts';
import { StreamTable } from './streams.ts';
import { FrameWriter } from './writer.ts';

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
 *
 * The parts (none of them knows this class; flow.ts and streams.ts write through writer.ts):
 * - frame-reader.ts (FrameReader): bytes in, cut into frames, each checked on its own and handed
 *   to a FrameHandler method below; header blocks gathered and HPACK-decoded.
 * - writer.ts (FrameWriter): frames out, one write per tick; congestion, drain, HPACK encoding.
 * - flow.ts (FlowControl): the connection's windows, pumping the streams' queued DATA into them.
 * - streams.ts (StreamTable): the open streams, stream ids, the limits on opening and resetting.
 * - stream.ts (H2Stream): one stream; it reaches the connection only through StreamOwner.
 * This class ties them together: it owns the socket and the lifecycle (preface and SETTINGS,
 * GOAWAY, close on a protocol error), and decides what each received frame does to the streams.
 */

export type { HeaderBlock, Headers };
export { H2Error, H2Stream };

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

const settingsAck = frame(FrameType.SETTINGS, Flag.ACK, 0);
const noop = () => undefined;
const noData = Buffer.alloc(0);

export class H2Connection implements StreamOwner, FrameHandler {
  readonly role: 'server' | 'client';
  readonly streamWindow: number;
  private readonly socket: Socket;
  private readonly reader: FrameReader;
  private readonly writer: FrameWriter;
  private readonly flow: FlowControl;
  private readonly streams: StreamTable;

  /** a new request (server); its headers are in stream.headers */
  onStream: (stream: H2Stream) => void = noop;
  /** the connection is gone; every stream was closed first */
  onClose: () => void = noop;
  /** the peer sent GOAWAY: no new streams */
  onGoaway: (lastStreamId: number, code: number) => void = noop;

  closed = false;
  /** we or the peer sent GOAWAY: no new streams */
  goingAway = false;

  constructor(socket: Socket, options: ConnectionOptions) {
    this.socket = socket;
    this.role = options.role;
    this.streamWindow = options.streamWindow ?? 1 << 20;
    const connectionWindow = options.connectionWindow ?? 16 << 20;
    const maxFrameSize = options.maxFrameSize ?? DEFAULT_MAX_FRAME;
    const maxHeaderListSize = options.maxHeaderListSize ?? 256 * 1024;
    const maxStreams = options.maxConcurrentStreams ?? DEFAULT_MAX_STREAMS;
    this.writer = new FrameWriter(socket);
    this.flow = new FlowControl(this.writer, connectionWindow);
    this.streams = new StreamTable(this.role, maxStreams, this.writer);
    this.reader = new FrameReader({ server: this.role === 'server', maxFrameSize, maxHeaderListSize }, this);

    const settings: Array<[number, number]> = [
      [Setting.INITIAL_WINDOW_SIZE, this.streamWindow],
      [Setting.MAX_FRAME_SIZE, maxFrameSize],
      [Setting.MAX_HEADER_LIST_SIZE, maxHeaderListSize],
    ];
    if (this.role === 'client') {
      settings.unshift([Setting.ENABLE_PUSH, 0]);
      this.send(CLIENT_PREFACE);
    } else settings.unshift([Setting.MAX_CONCURRENT_STREAMS, maxStreams]);
    this.send(settingsFrame(settings));
    if (connectionWindow > DEFAULT_WINDOW) this.send(windowUpdateFrame(0, connectionWindow - DEFAULT_WINDOW));

    socket.on('data', (chunk: Buffer) => this.read(chunk));
    socket.on('drain', () => this.writer.drained());
    socket.on('error', noop);
    socket.on('close', () => this.teardown());
  }

  /** Opens a stream with a request's header block (client). Throws once the connection is going away. */
  request(block: HeaderBlock, endStream = false): H2Stream {
    if (this.closed || this.goingAway) throw new H2Error(ErrorCode.REFUSED_STREAM, 'the connection is closing');
    const id = this.streams.takeLocalId();
    if (id === undefined) {
      // a new connection takes over; this one ends once its streams have
      this.goaway();
      throw new H2Error(ErrorCode.REFUSED_STREAM, 'stream ids exhausted');
    }
    const stream = this.open(id);
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
    this.send(goawayFrame(this.streams.lastPeerStream, ErrorCode.NO_ERROR));
    this.endIfIdle();
  }

  destroy(): void {
    this.socket.destroy();
    this.teardown();
  }

  private open(id: number): H2Stream {
    const stream = new H2Stream(this, id, this.streamWindow, this.flow.peerInitialWindow);
    this.streams.add(stream);
    return stream;
  }

  // --- StreamOwner: what the streams ask of the connection ---

  /** Too much is waiting for the socket: writers should wait. */
  get congested(): boolean {
    return this.writer.congested;
  }

  /** DATA queued in the streams, waiting for window */
  get queuedInStreams(): number {
    return this.flow.queuedInStreams;
  }

  set queuedInStreams(n: number) {
    this.flow.queuedInStreams = n;
  }

  /** Queues bytes for the socket; everything queued in one tick goes in one write. */
  send(buf: Buffer): void {
    this.writer.send(buf);
  }

  sendHeaders(id: number, block: HeaderBlock, endStream: boolean): void {
    this.writer.sendHeaders(id, block, endStream);
  }

  /** Sends what the stream has queued, as far as both windows allow, then its end. */
  pump(s: H2Stream): void {
    this.flow.pump(s);
  }

  waitDrain(s: H2Stream): void {
    this.writer.waitDrain(s);
  }

  /** Gives consumed bytes back to the peer's connection window. */
  creditConnection(n: number): void {
    if (!this.closed) this.flow.credit(n);
  }

  forget(s: H2Stream): void {
    this.streams.forget(s);
    this.flow.forget(s);
    this.writer.forget(s);
    this.endIfIdle();
  }

  // --- FrameHandler: what the peer's frames do (the reader has checked their form) ---

  receiveData(id: number, flags: number, payload: Buffer): void {
    const length = payload.length;
    this.flow.receive(length);
    const s = this.streams.get(id);
    if (!s || s.remoteEnded) {
      this.streams.checkKnown(id);
      this.creditConnection(length);
      this.streams.resetForPeer(s, ErrorCode.STREAM_CLOSED);
      return;
    }
    const data = unpadData(flags, payload);
    s.recvWindow -= length;
    if (s.recvWindow < 0) {
      this.creditConnection(length);
      this.streams.resetForPeer(s, ErrorCode.FLOW_CONTROL_ERROR);
      return;
    }
    // the stream credits the connection as it delivers; padding is consumed at once
    if (data.length !== length) s.credit(length - data.length);
    s.receive(data, (flags & Flag.END_STREAM) !== 0);
  }

  receiveHeaders(id: number, headers: Headers, endStream: boolean): void {
    const s = this.streams.get(id);
    // on the client, an unknown stream is one we already closed: its answer is dropped
    if (s) this.headersOnStream(s, headers, endStream);
    else if (this.role === 'client') this.streams.checkKnown(id);
    else this.newPeerStream(id, headers, endStream);
  }

  /** Response headers or trailers (client), trailers (server). */
  private headersOnStream(s: H2Stream, headers: Headers, endStream: boolean): void {
    if (s.remoteEnded) {
      this.streams.resetForPeer(s, ErrorCode.STREAM_CLOSED);
      return;
    }
    if (this.role === 'client' && !s.headers[':status']) s.headers = headers;
    else if (this.role === 'server' && !endStream) {
      this.streams.resetForPeer(s, ErrorCode.PROTOCOL_ERROR);
      return;
    }
    s.onHeaders(headers, endStream);
    if (endStream) s.receive(noData, true);
  }

  /** A client's request (server). */
  private newPeerStream(id: number, headers: Headers, endStream: boolean): void {
    this.streams.takePeerId(id);
    if (this.goingAway || this.streams.refuse(this.flow.queuedInStreams)) {
      this.writer.reply(rstStreamFrame(id, ErrorCode.REFUSED_STREAM));
      return;
    }
    const stream = this.open(id);
    stream.headers = headers;
    this.onStream(stream);
    if (endStream) stream.receive(noData, true);
  }

  receiveReset(id: number, code: number): void {
    this.streams.checkKnown(id);
    this.streams.onPeerReset(this.streams.get(id), code);
  }

  streamError(id: number, code: number): void {
    this.streams.resetForPeer(this.streams.get(id), code);
  }

  receiveSettings(settings: PeerSettings): void {
    if (settings.maxFrameSize !== undefined) this.writer.maxFrame = settings.maxFrameSize;
    if (settings.initialWindow !== undefined) this.flow.setPeerInitialWindow(settings.initialWindow, this.streams.values());
    this.writer.reply(settingsAck);
    this.flow.pumpBlocked();
  }

  receivePing(payload: Buffer): void {
    this.writer.reply(frame(FrameType.PING, Flag.ACK, 0, payload));
  }

  receiveGoaway(lastStreamId: number, code: number): void {
    this.goingAway = true;
    if (this.role === 'client') {
      // streams the server never saw may be retried elsewhere
      for (const s of [...this.streams.values()]) if (s.id > lastStreamId) s.close(true, ErrorCode.REFUSED_STREAM);
    }
    this.onGoaway(lastStreamId, code);
    this.endIfIdle();
  }

  receiveWindowUpdate(id: number, increment: number): void {
    if (id === 0) {
      this.flow.growConnectionWindow(increment);
      return;
    }
    const s = this.streams.get(id);
    if (!s) {
      this.streams.checkKnown(id);
      return;
    }
    if (increment === 0) {
      this.streams.resetForPeer(s, ErrorCode.PROTOCOL_ERROR);
      return;
    }
    s.sendWindow += increment;
    if (s.sendWindow > MAX_WINDOW) this.streams.resetForPeer(s, ErrorCode.FLOW_CONTROL_ERROR);
    else this.flow.pump(s);
  }

  // --- lifecycle ---

  private read(chunk: Buffer): void {
    if (this.closed) return;
    try {
      this.reader.read(chunk);
    } catch (err) {
      this.fail(err);
      return;
    }
    if (this.role === 'server') this.writer.pauseReadingWhileCongested();
  }

  private endIfIdle(): void {
    if (this.goingAway && this.streams.size === 0 && !this.closed) {
      this.writer.flush(true);
      this.socket.end();
    }
  }

  /** Ends the connection for a protocol error: GOAWAY with its code, then close. */
  private fail(err: unknown): void {
    const code = err instanceof H2Error ? err.code : err instanceof HpackError ? ErrorCode.COMPRESSION_ERROR : ErrorCode.INTERNAL_ERROR;
    // what was still queued is dropped: the GOAWAY is all the peer gets, soon or never
    this.writer.discard();
    this.send(goawayFrame(this.streams.lastPeerStream, code, (err as Error).message));
    this.writer.flush(true);
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
    this.reader.stop();
    this.writer.stop();
    this.streams.closeAll(ErrorCode.CANCEL);
    this.onClose();
  }
}
