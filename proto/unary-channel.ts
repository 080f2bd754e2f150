import * as net from 'node:net';
import type * as grpc from '@grpc/grpc-js';
import { fromGrpc, GrpcStatus } from './errors.ts';
import { framePrefix, MessageReader, statusError } from './grpc-frames.ts';
import { H2Connection, type H2Stream, type Headers } from './h2/connection.ts';
import { ErrorCode } from './h2/frames.ts';

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
 * Unary gRPC calls (and server streams read whole) over berth's own HTTP/2 (h2/connection.ts)
 * to a unix socket:
 * the calls most berth commands make, without loading grpc-js (~20 ms of every CLI start) or
 * waiting for its channel state machine before the first call goes out. The wire format is gRPC
 * over HTTP/2: length-prefixed messages, the status in the trailers (or, for an early error, in
 * the response headers). Streams read as they come still go through grpc-js (proto/client.ts).
 */
export class UnaryChannel {
  private link: Link | undefined;
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
      const link = this.connect();
      const fields: Array<[string, string]> = [
        [':method', 'POST'],
        [':scheme', 'http'],
        [':path', path],
        [':authority', 'localhost'],
        ['content-type', 'application/grpc'],
        ['te', 'trailers'],
      ];
      for (const [k, v] of Object.entries(opts.headers ?? {})) fields.push([k.toLowerCase(), v]);
      if (opts.deadline !== undefined) fields.push(['grpc-timeout', `${Math.max(1, Math.ceil(opts.deadline - Date.now()))}m`]);
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const messages: Buffer[] = [];
      const reader = new MessageReader(opts.maxMessageSize);
      let responseHeaders: Headers | undefined;
      let trailers: Headers = {};
      const finish = (err: CallError | undefined) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', abort);
        if (--this.inFlight === 0) link.socket.unref();
        if (err) {
          stream?.reset(ErrorCode.CANCEL);
          reject(fromGrpc(err));
        } else resolve(messages);
      };
      const abort = () => finish(statusError(GrpcStatus.CANCELLED, 'Cancelled on client'));
      this.inFlight++;
      link.socket.ref();
      let stream: H2Stream | undefined;
      try {
        stream = link.conn.request(fields);
      } catch {
        return finish(statusError(GrpcStatus.UNAVAILABLE, 'the connection is closing'));
      }
      if (opts.deadline !== undefined) timer = setTimeout(() => finish(statusError(GrpcStatus.DEADLINE_EXCEEDED, 'Deadline exceeded')), Math.max(0, opts.deadline - Date.now()));
      if (opts.signal?.aborted) return abort();
      opts.signal?.addEventListener('abort', abort, { once: true });
      stream.onHeaders = (h) => {
        if (responseHeaders === undefined) responseHeaders = h;
        else trailers = h;
      };
      stream.onData = (chunk: Buffer) => {
        if (settled) return;
        try {
          messages.push(...reader.push(chunk));
        } catch (err) {
          finish(err as CallError);
        }
      };
      stream.onEnd = () => {
        const code = Number(trailers['grpc-status'] ?? responseHeaders?.['grpc-status'] ?? NaN);
        const details = decodeURIComponent(String(trailers['grpc-message'] ?? responseHeaders?.['grpc-message'] ?? ''));
        if (Number.isNaN(code)) {
          const httpStatus = responseHeaders?.[':status'];
          return finish(statusError(GrpcStatus.UNKNOWN, `no gRPC status in the response (HTTP ${httpStatus ?? 'none'})`));
        }
        if (code !== 0) return finish(statusError(code, details));
        if (!reader.empty) return finish(statusError(GrpcStatus.INTERNAL, 'the response ended inside a message'));
        finish(undefined);
      };
      stream.onClose = (aborted, code) => {
        if (!aborted) return;
        if (code === ErrorCode.REFUSED_STREAM) return finish(statusError(GrpcStatus.UNAVAILABLE, 'the server refused the call: it is shutting down'));
        finish(statusError(GrpcStatus.UNAVAILABLE, connectionDetails(link.error, this.socketPath)));
      };
      stream.write(framePrefix(message.length), Buffer.from(message.buffer, message.byteOffset, message.byteLength));
      stream.end();
    });
  }

  close(): void {
    this.link?.conn.goaway();
    this.link = undefined;
  }

  private connect(): Link {
    if (this.link && !this.link.conn.closed && !this.link.conn.goingAway) return this.link;
    const socket = net.connect(this.socketPath);
    const link: Link = { socket, conn: new H2Connection(socket, { role: 'client' }), error: undefined };
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
  conn: H2Connection;
  error: NodeJS.ErrnoException | undefined;
}

/** grpc-js's words for a connection that failed, which ctl/errors.ts recognises. */
function connectionDetails(err: NodeJS.ErrnoException | undefined, socketPath: string): string {
  if (!err) return 'the connection closed before the response ended';
  if (err.syscall === 'connect') return `No connection established. Last error: ${err.message}`;
  return `${err.message} (${socketPath})`;
}
