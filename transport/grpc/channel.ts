import * as net from 'node:net';
import type * as grpc from '@grpc/grpc-js';
import type { BerthError } from '../../core/errors.ts';
import { H2Connection, type H2Stream, type Headers } from '../h2/connection.ts';
import { ErrorCode } from '../h2/frames.ts';
import { framePrefix, grpcTimeout, MessageReader, statusError, timerDelay } from './frames.ts';
import { fromGrpc, GrpcStatus } from './status.ts';

/** The socket path of a unix address (`unix:PATH`, `unix://PATH` or a plain path). */
export const socketPathOf = (address: string) => address.replace(/^unix:(\/\/)?/, '');

export interface CallOptions {
  /** request headers besides the gRPC ones (e.g. containerd-namespace) */
  headers?: Record<string, string>;
  /** absolute deadline, ms since the epoch */
  deadline?: number;
  signal?: AbortSignal;
  /** largest response message accepted */
  maxMessageSize: number;
}

type CallError = ReturnType<typeof statusError>;

/** What a call needs of its method: the path and the codecs (a grpc-js method definition has them). */
export interface MethodCodec<Req, Res> {
  path: string;
  requestSerialize(req: Req): Buffer;
  responseDeserialize(bytes: Buffer): Res;
}

const rawCodec = (path: string): MethodCodec<Uint8Array, Buffer> => ({
  path,
  requestSerialize: (b) => (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength)),
  responseDeserialize: (b) => b,
});

/**
 * One call as it goes, in either direction: request messages are written as they come, response
 * messages reach onMessage as they arrive, and onDone tells once how it ended (undefined when
 * OK, else the failure as a BerthError). Hooks are set right after open(): nothing is delivered
 * before the current tick ends.
 */
export class ClientCall<Req, Res> {
  onMessage: (message: Res) => void = () => undefined;
  onDone: (err: BerthError | undefined) => void = () => undefined;
  /** write() may be called again */
  onDrain: () => void = () => undefined;

  private settled = false;
  private stream: H2Stream | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly abort = () => this.finish(statusError(GrpcStatus.CANCELLED, 'Cancelled on client'));
  private readonly method: MethodCodec<Req, Res>;
  private readonly opts: CallOptions;
  private readonly release: () => void;

  constructor(link: Link, method: MethodCodec<Req, Res>, opts: CallOptions, release: () => void) {
    this.method = method;
    this.opts = opts;
    this.release = release;
    const fields: Array<[string, string]> = [
      [':method', 'POST'],
      [':scheme', 'http'],
      [':path', method.path],
      [':authority', 'localhost'],
      ['content-type', 'application/grpc'],
      ['te', 'trailers'],
    ];
    for (const [k, v] of Object.entries(opts.headers ?? {})) fields.push([k.toLowerCase(), v]);
    if (opts.deadline !== undefined) fields.push(['grpc-timeout', grpcTimeout(opts.deadline - Date.now())]);
    let stream: H2Stream;
    try {
      stream = link.conn.request(fields);
    } catch {
      queueMicrotask(() => this.finish(statusError(GrpcStatus.UNAVAILABLE, 'the connection is closing')));
      return;
    }
    this.stream = stream;
    if (opts.deadline !== undefined)
      this.timer = setTimeout(() => this.finish(statusError(GrpcStatus.DEADLINE_EXCEEDED, 'Deadline exceeded')), timerDelay(opts.deadline - Date.now()));
    if (opts.signal?.aborted) queueMicrotask(this.abort);
    else opts.signal?.addEventListener('abort', this.abort, { once: true });

    const reader = new MessageReader(opts.maxMessageSize);
    let responseHeaders: Headers | undefined;
    let trailers: Headers = {};
    stream.onHeaders = (h) => {
      if (responseHeaders === undefined) responseHeaders = h;
      else trailers = h;
    };
    stream.onData = (chunk: Buffer) => {
      if (this.settled) return;
      let messages: Buffer[];
      try {
        messages = reader.push(chunk);
      } catch (err) {
        return this.finish(err as CallError);
      }
      for (const m of messages) {
        let decoded: Res;
        try {
          decoded = method.responseDeserialize(m);
        } catch (err) {
          return this.finish(statusError(GrpcStatus.INTERNAL, `Response message parsing error: ${(err as Error).message}`));
        }
        this.onMessage(decoded);
        if (this.settled) return;
      }
    };
    stream.onEnd = () => {
      const code = Number(trailers['grpc-status'] ?? responseHeaders?.['grpc-status'] ?? NaN);
      const details = decodeURIComponent(String(trailers['grpc-message'] ?? responseHeaders?.['grpc-message'] ?? ''));
      if (Number.isNaN(code)) {
        const httpStatus = responseHeaders?.[':status'];
        return this.finish(statusError(GrpcStatus.UNKNOWN, `no gRPC status in the response (HTTP ${httpStatus ?? 'none'})`));
      }
      if (code !== 0) return this.finish(statusError(code, details));
      if (!reader.empty) return this.finish(statusError(GrpcStatus.INTERNAL, 'the response ended inside a message'));
      this.finish(undefined);
    };
    stream.onClose = (aborted, code) => {
      if (!aborted) return;
      if (code === ErrorCode.REFUSED_STREAM)
        return this.finish(
          statusError(GrpcStatus.UNAVAILABLE, 'the server refused the call: it is shutting down, or has too many calls open on this connection'),
        );
      this.finish(statusError(GrpcStatus.UNAVAILABLE, connectionDetails(link.error, link.socketPath)));
    };
    stream.onDrain = () => this.onDrain();
  }

  /** Sends a request message; false when the writer should wait for onDrain. */
  write(request: Req): boolean {
    if (this.settled || !this.stream) return true;
    const body = this.method.requestSerialize(request);
    return this.stream.write(framePrefix(body.length), body);
  }

  /** No more request messages. */
  end(): void {
    this.stream?.end();
  }

  /** Ends the call now: the server sees it cancelled, onDone gets CANCELLED. */
  cancel(): void {
    this.abort();
  }

  /** Stops reading response messages (and the server, once the window is full) until resume(). */
  pause(): void {
    this.stream?.pause();
  }

  resume(): void {
    this.stream?.resume();
  }

  private finish(err: CallError | undefined): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    this.opts.signal?.removeEventListener('abort', this.abort);
    this.release();
    if (err) this.stream?.reset(ErrorCode.CANCEL);
    this.onDone(err ? fromGrpc(err) : undefined);
  }
}

/**
 * gRPC calls over berth's own HTTP/2 (h2/connection.ts) to a unix socket, every call on one
 * connection: unary calls, server streams, client and bidirectional streams. The connection is
 * opened by the first call, without grpc-js (~20 ms of every CLI start) or its channel state
 * machine, and reopened after it was lost. The wire format is gRPC over HTTP/2: length-prefixed
 * messages, the status in the trailers (or, for an early error, in the response headers).
 */
export class Channel {
  private link: Link | undefined;
  private socketPath: string;

  /** `address`: the unix socket, as socketPathOf reads it. */
  constructor(address: string) {
    this.socketPath = socketPathOf(address);
  }

  /**
   * Makes later connections go to another address, keeping the current one: for a shim whose
   * bound socket was renamed (a connected socket follows the inode).
   */
  retarget(address: string): void {
    this.socketPath = socketPathOf(address);
  }

  /** Opens the connection ahead of the first call (it does not keep the process alive by itself). */
  warm(): void {
    this.connect();
  }

  /** Starts a call of any kind; see ClientCall. */
  open<Req, Res>(method: MethodCodec<Req, Res>, opts: CallOptions): ClientCall<Req, Res> {
    const link = this.connect();
    // the socket keeps the process alive while calls are open on it, and only then
    if (link.calls++ === 0) link.socket.ref();
    return new ClientCall(link, method, opts, () => {
      if (--link.calls === 0) link.socket.unref();
    });
  }

  /**
   * Calls a method with one request message and its grpc-js definition (path and codecs):
   * resolves with the decoded response, all messages of it for a server stream. Failures
   * become BerthErrors.
   */
  async invoke<Res>(def: grpc.MethodDefinition<object, object>, request: object, opts: CallOptions): Promise<Res[]> {
    if (def.requestStream) throw new Error(`${def.path} takes a request stream`);
    const messages = await this.collect(def as unknown as MethodCodec<object, Res>, request, opts);
    if (!def.responseStream && messages.length !== 1)
      throw fromGrpc(statusError(GrpcStatus.INTERNAL, `a unary call answered with ${messages.length} messages`));
    return messages;
  }

  /**
   * Sends one request message (already encoded) to `path`; resolves with the response messages:
   * exactly one for a unary method, all of them for a server stream.
   */
  call(path: string, message: Uint8Array, opts: CallOptions): Promise<Buffer[]> {
    return this.collect(rawCodec(path), message, opts);
  }

  private collect<Req, Res>(method: MethodCodec<Req, Res>, request: Req, opts: CallOptions): Promise<Res[]> {
    return new Promise<Res[]>((resolve, reject) => {
      const messages: Res[] = [];
      const call = this.open(method, opts);
      call.onMessage = (m) => messages.push(m);
      call.onDone = (err) => (err ? reject(err) : resolve(messages));
      call.write(request);
      call.end();
    });
  }

  close(): void {
    this.link?.conn.goaway();
    this.link = undefined;
  }

  private connect(): Link {
    if (this.link && !this.link.conn.closed && !this.link.conn.goingAway) return this.link;
    const socket = net.connect(this.socketPath);
    const link: Link = { socket, socketPath: this.socketPath, conn: new H2Connection(socket, { role: 'client' }), error: undefined, calls: 0 };
    socket.unref();
    // a failed connection fails the calls on it; the next call reconnects
    socket.on('error', (err) => (link.error = err));
    link.conn.onClose = () => {
      if (this.link === link) this.link = undefined;
    };
    link.conn.onGoaway = () => {
      if (this.link === link) this.link = undefined;
    };
    this.link = link;
    return link;
  }
}

/** One connection, and why it failed, for the calls it takes down. */
interface Link {
  socket: net.Socket;
  socketPath: string;
  conn: H2Connection;
  error: NodeJS.ErrnoException | undefined;
  /** calls open on it */
  calls: number;
}

/** grpc-js's words for a connection that failed, which ctl/errors.ts recognises. */
function connectionDetails(err: NodeJS.ErrnoException | undefined, socketPath: string): string {
  if (!err) return 'the connection closed before the response ended';
  if (err.syscall === 'connect') return `No connection established. Last error: ${err.message}`;
  return `${err.message} (${socketPath})`;
}
