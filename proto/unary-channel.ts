import * as http2 from 'node:http2';
import * as net from 'node:net';
import type * as grpc from '@grpc/grpc-js';
import { fromGrpc, GrpcStatus } from './errors.ts';
import { framePrefix, MessageReader, statusError } from './grpc-frames.ts';

/** The socket path of a unix address (`unix:PATH`, `unix://PATH` or a plain path). */
export const socketPathOf = (address: string) => address.replace(/^unix:(\/\/)?/, '');

export interface UnaryOptions {
  /** request headers besides the gRPC ones (e.g. containerd-namespace) */
  headers?: Record<string, string>;
  /** absolute deadline, ms since the epoch */
  deadline?: number;
  signal?: AbortSignal;
  /** largest response message accepted */
  maxMessageSize: number;
}

type CallError = ReturnType<typeof statusError>;

/**
 * Unary gRPC calls (and server streams read whole) straight over node:http2 to a unix socket:
 * the calls most berth commands make, without loading grpc-js (~20 ms of every CLI start) or
 * waiting for its channel state machine before the first call goes out. The wire format is gRPC
 * over HTTP/2: length-prefixed messages, the status in the trailers (or, for an early error, in
 * the response headers). Streams read as they come still go through grpc-js (proto/client.ts).
 */
export class UnaryChannel {
  private session: http2.ClientHttp2Session | undefined;
  /** why the last connection failed, for the calls it takes down */
  private sessionError: Error | undefined;
  private inFlight = 0;

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

  /**
   * Calls a method with its grpc-js definition (path and codecs): resolves with the decoded
   * response, all messages of it for a server stream. Failures become BerthErrors.
   */
  async invoke<Res>(def: grpc.MethodDefinition<object, object>, request: object, opts: UnaryOptions): Promise<Res[]> {
    if (def.requestStream) throw new Error(`${def.path} takes a request stream`);
    const messages = await this.call(def.path, def.requestSerialize(request), opts);
    if (!def.responseStream && messages.length !== 1) throw fromGrpc(statusError(GrpcStatus.INTERNAL, `a unary call answered with ${messages.length} messages`));
    try {
      return messages.map((m) => def.responseDeserialize(m) as Res);
    } catch (err) {
      throw fromGrpc(statusError(GrpcStatus.INTERNAL, `Response message parsing error: ${(err as Error).message}`));
    }
  }

  /**
   * Sends one request message (already encoded) to `path`; resolves with the response messages:
   * exactly one for a unary method, all of them for a server stream.
   */
  call(path: string, message: Uint8Array, opts: UnaryOptions): Promise<Buffer[]> {
    return new Promise<Buffer[]>((resolve, reject) => {
      const session = this.connect();
      const headers: http2.OutgoingHttpHeaders = {
        ':method': 'POST',
        ':path': path,
        'content-type': 'application/grpc',
        te: 'trailers',
        ...opts.headers,
      };
      if (opts.deadline !== undefined) headers['grpc-timeout'] = `${Math.max(1, Math.ceil(opts.deadline - Date.now()))}m`;
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const messages: Buffer[] = [];
      const reader = new MessageReader(opts.maxMessageSize);
      let responseHeaders: http2.IncomingHttpHeaders | undefined;
      const finish = (err: CallError | undefined) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', abort);
        if (--this.inFlight === 0) this.session?.unref();
        if (err) {
          if (!req.closed) req.close(http2.constants.NGHTTP2_CANCEL);
          reject(fromGrpc(err));
        } else resolve(messages);
      };
      const abort = () => finish(statusError(GrpcStatus.CANCELLED, 'Cancelled on client'));
      this.inFlight++;
      session.ref();
      const req = session.request(headers);
      if (opts.deadline !== undefined) timer = setTimeout(() => finish(statusError(GrpcStatus.DEADLINE_EXCEEDED, 'Deadline exceeded')), Math.max(0, opts.deadline - Date.now()));
      if (opts.signal?.aborted) return abort();
      opts.signal?.addEventListener('abort', abort, { once: true });
      req.on('response', (h) => (responseHeaders = h));
      req.on('data', (chunk: Buffer) => {
        if (settled) return;
        try {
          messages.push(...reader.push(chunk));
        } catch (err) {
          finish(err as CallError);
        }
      });
      // a stream cancelled because its connection failed carries that failure as its cause
      const lost = (err?: Error) => finish(statusError(GrpcStatus.UNAVAILABLE, connectionDetails((err?.cause as Error | undefined) ?? this.sessionError ?? err, this.socketPath)));
      req.on('error', lost);
      const end = (trailers: http2.IncomingHttpHeaders) => {
        const code = Number(trailers['grpc-status'] ?? responseHeaders?.['grpc-status'] ?? NaN);
        const message = decodeURIComponent(String(trailers['grpc-message'] ?? responseHeaders?.['grpc-message'] ?? ''));
        if (Number.isNaN(code)) {
          const httpStatus = responseHeaders?.[':status'];
          return finish(statusError(GrpcStatus.UNKNOWN, `no gRPC status in the response (HTTP ${httpStatus ?? 'none'})`));
        }
        if (code !== 0) return finish(statusError(code, message));
        if (!reader.empty) return finish(statusError(GrpcStatus.INTERNAL, 'the response ended inside a message'));
        finish(undefined);
      };
      let trailers: http2.IncomingHttpHeaders = {};
      req.on('trailers', (t) => (trailers = t));
      req.on('end', () => end(trailers));
      req.on('close', () => lost());
      req.write(framePrefix(message.length));
      req.end(message);
    });
  }

  close(): void {
    this.session?.close();
    this.session = undefined;
  }

  private connect(): http2.ClientHttp2Session {
    if (this.session && !this.session.closed && !this.session.destroyed) return this.session;
    const session = http2.connect('http://localhost', { createConnection: () => net.connect(this.socketPath) });
    this.sessionError = undefined;
    // a failed connection fails the calls on it; the next call reconnects
    session.on('error', (err) => (this.sessionError = err));
    session.on('close', () => {
      if (this.session === session) this.session = undefined;
    });
    session.on('goaway', () => {
      if (this.session === session) this.session = undefined;
    });
    this.session = session;
    return session;
  }
}

/** grpc-js's words for a connection that failed, which ctl/errors.ts recognises. */
function connectionDetails(err: NodeJS.ErrnoException | undefined, socketPath: string): string {
  if (!err) return 'the connection closed before the response ended';
  if (err.syscall === 'connect') return `No connection established. Last error: ${err.message}`;
  return `${err.message} (${socketPath})`;
}
