import * as http2 from 'node:http2';
import * as net from 'node:net';
import { fromGrpc, GrpcStatus } from './errors.ts';

/**
 * Unary gRPC calls (and server streams read whole) straight over node:http2 to a unix socket:
 * the calls most berth commands make, without loading grpc-js (~20 ms of every CLI start) or
 * waiting for its channel state machine before the first call goes out. The wire format is gRPC
 * over HTTP/2: length-prefixed messages, the status in the trailers (or, for an early error, in
 * the response headers). Streams read as they come still go through grpc-js (proto/client.ts).
 */
export interface UnaryOptions {
  /** request headers besides the gRPC ones (e.g. containerd-namespace) */
  headers?: Record<string, string>;
  /** absolute deadline, ms since the epoch */
  deadline?: number;
  signal?: AbortSignal;
  /** largest response message accepted */
  maxMessageSize: number;
}

/** grpc-js's shape of a failed call, which fromGrpc turns into a BerthError. */
interface CallError extends Error {
  code: number;
  details: string;
}


function callError(code: number, details: string): CallError {
  return Object.assign(new Error(`${code} ${details}`), { code, details });
}

export class UnaryChannel {
  private session: http2.ClientHttp2Session | undefined;
  /** why the last connection failed, for the calls it takes down */
  private sessionError: Error | undefined;
  private inFlight = 0;

  constructor(private socketPath: string) {}

  /**
   * Makes later connections go to another path, keeping the current one: for a shim whose bound
   * socket was renamed (a connected socket follows the inode).
   */
  retarget(socketPath: string): void {
    this.socketPath = socketPath;
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
      let pending: Buffer = Buffer.alloc(0);
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
      const abort = () => finish(callError(GrpcStatus.CANCELLED, 'Cancelled on client'));
      this.inFlight++;
      session.ref();
      const req = session.request(headers);
      if (opts.deadline !== undefined) timer = setTimeout(() => finish(callError(GrpcStatus.DEADLINE_EXCEEDED, 'Deadline exceeded')), Math.max(0, opts.deadline - Date.now()));
      if (opts.signal?.aborted) return abort();
      opts.signal?.addEventListener('abort', abort, { once: true });
      req.on('response', (h) => (responseHeaders = h));
      // each message: a compressed flag byte, a 32-bit big-endian length, the bytes
      req.on('data', (chunk: Buffer) => {
        pending = pending.length > 0 ? Buffer.concat([pending, chunk]) : chunk;
        while (pending.length >= 5) {
          if (pending[0] !== 0) return finish(callError(GrpcStatus.INTERNAL, 'compressed response messages are not supported'));
          const size = pending.readUInt32BE(1);
          if (size > opts.maxMessageSize) return finish(callError(GrpcStatus.RESOURCE_EXHAUSTED, `Received message larger than max (${size} vs. ${opts.maxMessageSize})`));
          if (pending.length < 5 + size) break;
          messages.push(pending.subarray(5, 5 + size));
          pending = pending.subarray(5 + size);
        }
      });
      // a stream cancelled because its connection failed carries that failure as its cause
      const lost = (err?: Error) => finish(callError(GrpcStatus.UNAVAILABLE, connectionDetails((err?.cause as Error | undefined) ?? this.sessionError ?? err, this.socketPath)));
      req.on('error', lost);
      const end = (trailers: http2.IncomingHttpHeaders) => {
        const code = Number(trailers['grpc-status'] ?? responseHeaders?.['grpc-status'] ?? NaN);
        const message = decodeURIComponent(String(trailers['grpc-message'] ?? responseHeaders?.['grpc-message'] ?? ''));
        if (Number.isNaN(code)) {
          const httpStatus = responseHeaders?.[':status'];
          return finish(callError(GrpcStatus.UNKNOWN, `no gRPC status in the response (HTTP ${httpStatus ?? 'none'})`));
        }
        if (code !== 0) return finish(callError(code, message));
        if (pending.length > 0) return finish(callError(GrpcStatus.INTERNAL, 'the response ended inside a message'));
        finish(undefined);
      };
      let trailers: http2.IncomingHttpHeaders = {};
      req.on('trailers', (t) => (trailers = t));
      req.on('end', () => end(trailers));
      req.on('close', () => lost());
      const prefix = Buffer.allocUnsafe(5);
      prefix[0] = 0;
      prefix.writeUInt32BE(message.length, 1);
      req.write(prefix);
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
