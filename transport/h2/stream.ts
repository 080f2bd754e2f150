/**
 * One HTTP/2 stream of a connection (connection.ts): its two windows, the DATA it has queued to
 * send, and the DATA it received and holds while paused.
 */
import { ErrorCode, rstStreamFrame, windowUpdateFrame } from './frames.ts';

/** Header fields as decoded: a repeated name gives an array, in arrival order. */
export type Headers = Record<string, string | string[]>;
/** Header fields to send: a list of pairs, or a block already HPACK-encoded. */
export type HeaderBlock = Buffer | ReadonlyArray<readonly [string, string]>;

/** Bytes a stream may queue before write() asks the writer to wait. */
export const STREAM_HIGH_WATER = 256 * 1024;

/** What a stream asks of the connection it belongs to (connection.ts). */
export interface StreamOwner {
  readonly role: 'server' | 'client';
  /** the receive window each stream gets */
  readonly streamWindow: number;
  /** too much waits for the socket */
  readonly congested: boolean;
  /** DATA queued in all the streams, waiting for window */
  queuedInStreams: number;
  send(buf: Buffer): void;
  sendHeaders(id: number, block: HeaderBlock, endStream: boolean): void;
  /** sends what the stream has queued, as the windows allow */
  pump(s: H2Stream): void;
  /** calls s.onDrain once the connection is no longer congested */
  waitDrain(s: H2Stream): void;
  /** the stream is closed */
  forget(s: H2Stream): void;
  /** gives n consumed bytes back to the connection window */
  creditConnection(n: number): void;
}

const noop = () => undefined;

/**
 * One stream. The owner sets the on* hooks; frames arriving before the hooks are set are not
 * lost, because the connection hands over a new stream (onStream, request()) before it reads on.
 */
export class H2Stream {
  readonly id: number;
  /** the request headers (server), or the response headers (client) */
  headers: Headers = {};

  /** a chunk of the peer's DATA */
  onData: (chunk: Buffer) => void = noop;
  /** the peer ended its side */
  onEnd: () => void = noop;
  /** a header block after the first: response headers and trailers (client), trailers (server) */
  onHeaders: (headers: Headers, endStream: boolean) => void = noop;
  /** the stream is over: both sides ended (aborted false), or reset, or the connection went */
  onClose: (aborted: boolean, code: number) => void = noop;
  /** write() may be called again */
  onDrain: () => void = noop;

  closed = false;
  /** the peer's END_STREAM arrived (it may not be delivered yet, while paused) */
  remoteEnded = false;
  /** our END_STREAM was given (it may wait behind queued data) */
  localEnded = false;
  /** our END_STREAM flag has been queued for the socket */
  finSent = false;
  private paused = false;
  private inbox: Buffer[] | undefined;
  private endDelivered = false;

  recvWindow: number;
  private recvUnacked = 0;
  sendWindow: number;
  /** DATA waiting for flow-control window */
  queue: Buffer[] = [];
  queued = 0;
  /** the trailers to send once the queue is empty (undefined: end with an empty DATA) */
  trailers: HeaderBlock | undefined;
  wantDrain = false;

  private readonly conn: StreamOwner;

  constructor(conn: StreamOwner, id: number, recvWindow: number, sendWindow: number) {
    this.conn = conn;
    this.id = id;
    this.recvWindow = recvWindow;
    this.sendWindow = sendWindow;
  }

  /** Sends the first header block (response headers, or a request's). */
  respond(block: HeaderBlock, endStream = false): void {
    if (this.closed || this.localEnded) return;
    if (endStream) this.localEnded = this.finSent = true;
    this.conn.sendHeaders(this.id, block, endStream);
    if (endStream) this.afterLocalEnd();
  }

  /** Queues DATA (each part sent as is, uncopied when large); false when the writer should wait for onDrain. */
  write(...parts: Buffer[]): boolean {
    if (this.closed || this.localEnded) return true;
    for (const p of parts) {
      if (p.length === 0) continue;
      this.queue.push(p);
      this.queued += p.length;
      this.conn.queuedInStreams += p.length;
    }
    this.conn.pump(this);
    if (this.queued < STREAM_HIGH_WATER && !this.conn.congested) return true;
    this.wantDrain = true;
    this.conn.waitDrain(this);
    return false;
  }

  /** Ends our side, with trailers or an empty DATA frame, once queued DATA has gone. */
  end(trailers?: HeaderBlock): void {
    if (this.closed || this.localEnded) return;
    this.localEnded = true;
    this.trailers = trailers;
    this.conn.pump(this);
  }

  /** Resets the stream (RST_STREAM) and closes it. */
  reset(code: number = ErrorCode.CANCEL): void {
    if (this.closed) return;
    this.conn.send(rstStreamFrame(this.id, code));
    this.close(true, code);
  }

  /** Stops delivering DATA (and holding back window) until resume(). */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    const inbox = this.inbox;
    while (inbox && inbox.length > 0 && !this.paused && !this.closed) this.deliver(inbox.shift()!);
    if (inbox && inbox.length === 0) this.inbox = undefined;
    if (!this.inbox && this.remoteEnded && !this.endDelivered && !this.paused) this.deliverEnd();
  }

  /** DATA from the peer (padding already stripped and credited). */
  receive(data: Buffer, endStream: boolean): void {
    if (endStream) this.remoteEnded = true;
    if (this.paused || this.inbox) {
      if (data.length > 0) (this.inbox ??= []).push(data);
    } else if (data.length > 0) this.deliver(data);
    if (endStream && !this.paused && !this.inbox) this.deliverEnd();
  }

  private deliver(data: Buffer): void {
    this.credit(data.length);
    this.onData(data);
  }

  deliverEnd(): void {
    if (this.endDelivered || this.closed) return;
    this.endDelivered = true;
    this.onEnd();
    if (this.finSent) this.close(false, ErrorCode.NO_ERROR);
  }

  /** Gives `n` consumed bytes back to the peer, in updates of at least half the window, the connection's too. */
  credit(n: number): void {
    this.conn.creditConnection(n);
    this.recvUnacked += n;
    if (this.remoteEnded || this.recvUnacked < this.conn.streamWindow / 2) return;
    this.conn.send(windowUpdateFrame(this.id, this.recvUnacked));
    this.recvWindow += this.recvUnacked;
    this.recvUnacked = 0;
  }

  /** Called once our END_STREAM is on its way (again on later pumps: it changes nothing then). */
  afterLocalEnd(): void {
    if (this.closed) return;
    if (this.endDelivered) {
      this.close(false, ErrorCode.NO_ERROR);
      return;
    }
    // A server that has answered needs nothing more of the request: tell the client to stop
    // sending (RFC 9113 §8.1), as gRPC servers do when they fail a call early.
    if (this.conn.role === 'server') {
      this.conn.send(rstStreamFrame(this.id, ErrorCode.NO_ERROR));
      this.close(false, ErrorCode.NO_ERROR);
    }
  }

  close(aborted: boolean, code: number): void {
    if (this.closed) return;
    this.closed = true;
    // what was never delivered is dropped: the connection window gets it back
    if (this.inbox) for (const b of this.inbox) this.conn.creditConnection(b.length);
    this.inbox = undefined;
    this.queue = [];
    this.conn.queuedInStreams -= this.queued;
    this.queued = 0;
    this.conn.forget(this);
    this.onClose(aborted, code);
  }
}
