import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import { Duplex } from 'node:stream';
import { gunzipSync, inflateSync } from 'node:zlib';
import type * as grpc from '@grpc/grpc-js';
import { definitionOf, ServiceRef } from '../../api/codec.ts';
import { type AnyService, Service } from '../../api/service.ts';
import { H2Connection, type H2Stream, type Headers } from '../h2/connection.ts';
import { HpackEncoder } from '../h2/hpack.ts';
import type { HandlersOf } from '../typed.ts';
import { type Decompress, framePrefix, MessageReader, parseGrpcTimeout, ReceiveBudget, statusError, timerDelay } from './frames.ts';
import { GrpcStatus, toGrpc } from './status.ts';

/**
 * A gRPC server on berth's own HTTP/2 (h2/connection.ts), for berthd's socket.
 * grpc-js's server spent ~80 µs of CPU per call, node:http2 alone ~40; this one ~12–18 (`npm
 * run bench -- unary`; bench/README.md). It does only what gRPC needs: length-prefixed
 * messages, the deadline, cancellation, and the status in the trailers. Services are added as grpc-js service definitions and handlers, and
 * each call object offers the part of grpc-js's call API the handlers use (request, metadata,
 * cancelled, write/end with back-pressure, 'cancelled' and 'close' events, emit('error', status)
 * to fail a stream), so the services are written once against grpc-js's types.
 */

/** gRPC's OK, which GrpcStatus (the failures) leaves out */
const okStatus = 0;

/** The status for a failure as handlers give it: a BerthError, grpc-js's {code, details}, or any Error. */
function statusOf(err: unknown): { code: number; details: string } {
  const s = toGrpc(err);
  return Number.isInteger(s.code) && s.code > 0 && s.code <= 16 ? s : { code: GrpcStatus.UNKNOWN, details: s.details };
}

/** grpc-message is percent-encoded (gRPC over HTTP/2: printable ASCII except '%' stays). */
function encodeMessage(s: string): string {
  return Buffer.from(s, 'utf8').reduce(
    (out, b) => out + (b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`),
    '',
  );
}

const hpack = new HpackEncoder();
/** The response headers of every call that answers, and the trailers of every call that succeeds: encoded once. */
const responseHeaders = hpack.encode([
  [':status', '200'],
  ['content-type', 'application/grpc+proto'],
  ['grpc-accept-encoding', 'identity,gzip,deflate'],
]);
const okTrailers = hpack.encode([['grpc-status', '0']]);

const statusFields = (code: number, details: string): Array<[string, string]> => [
  ['grpc-status', String(code)],
  ['grpc-message', encodeMessage(details)],
];

/** Ends a stream that sent nothing with its status in the response headers (gRPC's trailers-only). */
function trailersOnly(stream: H2Stream, code: number, details: string): void {
  stream.respond([[':status', '200'], ['content-type', 'application/grpc+proto'], ...statusFields(code, details)], true);
}

/** The request metadata, read the way grpc-js's Metadata is (`get(key)` gives every value). */
export class CallMetadata {
  constructor(private readonly headers: Headers) {}

  get(key: string): Array<string | Buffer> {
    const v = this.headers[key.toLowerCase()];
    if (v === undefined) return [];
    const values = Array.isArray(v) ? v : key.endsWith('-bin') ? [v] : v.split(',').map((s) => s.trim());
    return key.endsWith('-bin') ? values.map((s) => Buffer.from(s, 'base64')) : values;
  }

  getMap(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(this.headers)) if (!k.startsWith(':') && v !== undefined) out[k] = String(v);
    return out;
  }
}

type Method = grpc.MethodDefinition<unknown, unknown>;

/** What a call object learns from its reply: the call was cancelled, or it is over. */
interface CallEvents {
  onCancel(): void;
  onOver(): void;
}

/**
 * The response side of one HTTP/2 stream: headers once, framed messages, and one status at the
 * end, in the trailers or, when nothing was sent, trailers-only. Also watches the deadline and
 * the client's reset.
 */
class Reply {
  private responded = false;
  finished = false;
  private timer: NodeJS.Timeout | undefined;
  call!: CallEvents;

  constructor(
    readonly stream: H2Stream,
    headers: Headers,
    readonly method: Method,
    private readonly maxMessageSize: number,
    /** what the call has received, given back to the connection's budget when it is over */
    private readonly reader: MessageReader,
  ) {
    const timeout = parseGrpcTimeout(headers['grpc-timeout']);
    if (timeout !== undefined) {
      this.timer = setTimeout(() => {
        this.call.onCancel();
        this.end(GrpcStatus.DEADLINE_EXCEEDED, 'Deadline exceeded');
      }, timerDelay(timeout));
    }
    stream.onClose = () => {
      if (this.finished) return;
      // reset by the client, or the connection went
      this.finished = true;
      this.reader.dispose();
      clearTimeout(this.timer);
      this.call.onCancel();
      this.call.onOver();
    };
  }

  private respond(): void {
    if (this.responded) return;
    this.responded = true;
    this.stream.respond(responseHeaders);
  }

  /** Sends a message (prefix and bytes, uncopied); false when the writer should wait for 'drain'. Throws a status when it is too large. */
  send(message: unknown): boolean {
    const body = this.method.responseSerialize(message);
    if (body.length > this.maxMessageSize)
      throw statusError(GrpcStatus.RESOURCE_EXHAUSTED, `Sent message larger than max (${body.length} vs. ${this.maxMessageSize})`);
    this.respond();
    return this.stream.write(framePrefix(body.length), body);
  }

  /** Ends the call with a status (once). */
  end(code: number, details: string): void {
    if (this.finished) return;
    this.finished = true;
    this.reader.dispose();
    clearTimeout(this.timer);
    if (!this.stream.closed) {
      if (this.responded) this.stream.end(code === okStatus && details === '' ? okTrailers : statusFields(code, details));
      else {
        this.responded = true;
        trailersOnly(this.stream, code, details);
      }
    }
    this.call.onOver();
  }

  fail(err: unknown): void {
    const s = statusOf(err);
    this.end(s.code, s.details);
  }

  /** grpc-js's callback for unary and client-streaming handlers. */
  answer(err: unknown, response?: unknown): void {
    if (this.finished) return;
    if (err) {
      this.fail(err);
      return;
    }
    try {
      this.send(response);
    } catch (e) {
      this.fail(e);
      return;
    }
    this.end(okStatus, '');
  }
}

/** A call with one request and one response: grpc-js's ServerUnaryCall, without the stream machinery. */
class UnaryCall extends EventEmitter implements CallEvents {
  cancelled = false;
  request: unknown;

  constructor(
    private readonly reply: Reply,
    readonly metadata: CallMetadata,
  ) {
    super();
    reply.call = this;
  }

  getPath(): string {
    return this.reply.method.path;
  }

  onCancel(): void {
    this.cancelled = true;
    this.emit('cancelled', 'cancelled');
  }

  onOver(): void {}
}

/**
 * A call with a request or response stream: a Duplex of messages (requests readable, responses
 * writable), as grpc-js's call objects. A handler fails it with emit('error', status), as with
 * grpc-js; 'close' tells handlers (event subscriptions) that it is over, however it ended.
 */
class StreamCall extends Duplex implements CallEvents {
  cancelled = false;
  request: unknown;
  /** the sizes of the request messages pushed and not yet read by the handler, oldest first */
  private readonly unread: number[] = [];

  constructor(
    private readonly reply: Reply,
    readonly metadata: CallMetadata,
    private readonly reader?: MessageReader,
  ) {
    // a few request messages wait for the handler, then the HTTP/2 stream is paused
    super({ objectMode: true, readableHighWaterMark: 4 });
    reply.call = this;
    this.on('error', (err) => reply.fail(err));
  }

  /** Passes a request message to the handler; false when the HTTP/2 stream should pause. */
  pushMessage(message: unknown, size: number): boolean {
    this.unread.push(size);
    const more = this.push(message);
    this.released();
    return more;
  }

  /** Gives the budget back the messages the handler has read (the readable buffer holds the newest). */
  private released(): void {
    while (this.unread.length > this.readableLength) this.reader?.release(this.unread.shift()!);
  }

  getPath(): string {
    return this.reply.method.path;
  }

  onCancel(): void {
    this.cancelled = true;
    this.emit('cancelled', 'cancelled');
  }

  onOver(): void {
    this.destroy();
  }

  override _read(): void {
    this.released();
    this.reply.stream.resume();
  }

  override _write(message: unknown, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    if (this.reply.finished) {
      done();
      return;
    }
    let ready: boolean;
    try {
      ready = this.reply.send(message);
    } catch (err) {
      this.reply.fail(err);
      done();
      return;
    }
    if (ready || this.reply.stream.closed) done();
    else this.reply.stream.onDrain = () => done();
  }

  override _final(done: (err?: Error | null) => void): void {
    this.reply.end(okStatus, '');
    done();
  }
}

/** A compressed request message's bytes, for the grpc-encoding the client named. */
function decompressor(encoding: string | undefined): Decompress | undefined {
  if (encoding === undefined || encoding === 'identity') return undefined;
  return (body, maxLength) => {
    // inflated no further than allowed: a small message may stand for gigabytes
    const opts = { maxOutputLength: Math.max(1, maxLength) };
    try {
      if (encoding === 'gzip') return gunzipSync(body, opts);
      if (encoding === 'deflate') return inflateSync(body, opts);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE')
        throw statusError(GrpcStatus.RESOURCE_EXHAUSTED, `Received message after decompression larger than ${maxLength} bytes`);
      throw statusError(GrpcStatus.INTERNAL, `Received invalid compressed message: ${(err as Error).message}`);
    }
    throw statusError(GrpcStatus.UNIMPLEMENTED, `compressed message with encoding ${encoding}`);
  };
}

type Handler = (...args: unknown[]) => unknown;

export interface GrpcServerOptions {
  /** largest message accepted or sent, in bytes */
  maxMessageSize: number;
  /** bytes of received messages one connection may hold before its handlers take them; default the larger of 32 MiB and two messages */
  connectionBudget?: number;
  /** calls one connection may have open at once */
  maxConcurrentStreams?: number;
}

export class GrpcServer {
  private readonly routes = new Map<string, { method: Method; handler: Handler }>();
  private readonly server: net.Server;
  private readonly connections = new Set<H2Connection>();

  constructor(private readonly options: GrpcServerOptions) {
    const budget = options.connectionBudget ?? Math.max(32 << 20, 2 * options.maxMessageSize);
    this.server = net.createServer((socket) => {
      const conn = new H2Connection(socket, { role: 'server', maxConcurrentStreams: options.maxConcurrentStreams });
      const received = new ReceiveBudget(budget);
      this.connections.add(conn);
      conn.onClose = () => this.connections.delete(conn);
      conn.onStream = (stream) => this.dispatch(stream, stream.headers, received);
    });
  }

  /** Adds the handlers of a service of api/services.ts, typed by its generated XxxHandlers. */
  addService<S extends AnyService>(service: S, handlers: HandlersOf<S>): void;
  /** Adds a grpc-js service definition's handlers, keyed by each method's path (as grpc.Server.addService). */
  addService(def: grpc.ServiceDefinition, impl: grpc.UntypedServiceImplementation): void;
  addService(def: AnyService | grpc.ServiceDefinition, impl: object): void {
    // a service's typed XxxHandlers are read below as untyped handlers, like grpc-js's
    if (def instanceof Service) def = definitionOf(new ServiceRef(def.dir, def.name));
    for (const [name, method] of Object.entries(def)) {
      const handler =
        (impl as Record<string, Handler | undefined>)[name] ??
        (impl as Record<string, Handler | undefined>)[(method as { originalName?: string }).originalName ?? ''];
      if (!handler) continue;
      if (this.routes.has(method.path)) throw new Error(`method ${method.path} added twice`);
      this.routes.set(method.path, { method: method as Method, handler });
    }
  }

  /** Listens on a unix socket path. */
  listen(path: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(path, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  /** Stops accepting connections and calls, and resolves once the running calls have ended. */
  shutdown(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      for (const c of this.connections) c.goaway();
    });
  }

  /** Ends every connection at once. */
  forceShutdown(): void {
    for (const c of this.connections) c.destroy();
    this.server.close();
  }

  private dispatch(stream: H2Stream, headers: Headers, budget: ReceiveBudget): void {
    const contentType = String(headers['content-type'] ?? '');
    if (headers[':method'] !== 'POST' || !contentType.startsWith('application/grpc')) {
      stream.respond([[':status', '415']], true);
      return;
    }
    const route = this.routes.get(String(headers[':path']));
    if (!route) {
      trailersOnly(stream, GrpcStatus.UNIMPLEMENTED, `The server does not implement the method ${String(headers[':path'])}`);
      return;
    }
    const { method, handler } = route;
    const { maxMessageSize } = this.options;
    const reader = new MessageReader(maxMessageSize, decompressor(headers['grpc-encoding'] as string | undefined), budget);
    const reply = new Reply(stream, headers, method, maxMessageSize, reader);
    const metadata = new CallMetadata(headers);
    const callback = (err: unknown, response?: unknown) => reply.answer(err, response);
    const fail = (err: unknown) => reply.fail(err);

    if (!method.requestStream) {
      // one request message: read it whole, then run the handler
      const call = method.responseStream ? new StreamCall(reply, metadata) : new UnaryCall(reply, metadata);
      if (call instanceof StreamCall) call.push(null);
      let request: Buffer | undefined;
      stream.onData = (chunk: Buffer) => {
        // once the call has ended (a refused message), what the client still sends is dropped
        if (reply.finished) return;
        let messages: Buffer[];
        try {
          messages = reader.push(chunk);
        } catch (err) {
          return fail(err);
        }
        if (messages.length === 0) return;
        // as grpc-go: a second message fails the call at once, rather than wait for the end
        if (request !== undefined || messages.length > 1)
          return fail(statusError(GrpcStatus.INTERNAL, `more than one request message for ${method.path}, which takes one`));
        request = messages[0];
      };
      stream.onEnd = () => {
        if (reply.finished) return;
        if (request === undefined || !reader.empty) return fail(statusError(GrpcStatus.UNIMPLEMENTED, 'expected one request message, got none'));
        reader.release(request.length);
        try {
          call.request = method.requestDeserialize(request);
        } catch (err) {
          return fail(statusError(GrpcStatus.INTERNAL, `Error deserializing request: ${(err as Error).message}`));
        }
        run(() => (method.responseStream ? handler(call) : handler(call, callback)));
      };
    } else {
      // a request stream: messages are pushed to the call as they arrive, pausing the HTTP/2
      // stream while the handler has not taken them
      const call = new StreamCall(reply, metadata, reader);
      stream.onData = (chunk: Buffer) => {
        if (reply.finished) return;
        let messages: Buffer[];
        try {
          messages = reader.push(chunk);
        } catch (err) {
          return fail(err);
        }
        for (const m of messages) {
          let decoded: unknown;
          try {
            decoded = method.requestDeserialize(m);
          } catch (err) {
            return fail(statusError(GrpcStatus.INTERNAL, `Error deserializing request: ${(err as Error).message}`));
          }
          if (!call.pushMessage(decoded, m.length)) stream.pause();
        }
      };
      stream.onEnd = () => call.push(null);
      run(() => (method.responseStream ? handler(call) : handler(call, callback)));
    }

    function run(invoke: () => unknown) {
      try {
        const r = invoke();
        if (r instanceof Promise) r.catch(fail);
      } catch (err) {
        fail(err);
      }
    }
  }
}
