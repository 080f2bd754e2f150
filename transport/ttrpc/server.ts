import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import * as net from 'node:net';
import type { MethodDefinition } from '@grpc/proto-loader';
import { methodDefinition, ServiceRef } from '../../api/codec.ts';
import type { AnyService, Service } from '../../api/service.ts';
import { BerthError } from '../../core/errors.ts';
import { GrpcStatus } from '../grpc/status.ts';
import type { UnaryMethods } from './client.ts';
import { decodeRequest, encodeResponse, metadataMap, namespaceKey, ok, statusOf } from './envelope.ts';
import { encodeFrame, FrameReader, FrameType, maxDataSize, type ReadEvent } from './frames.ts';

/** What a handler knows of its call besides the request. */
export interface TtrpcContext {
  /** the containerd namespace of the call's metadata ('' when it has none) */
  namespace: string;
  /** every metadata value by lower-cased key */
  metadata: Map<string, string[]>;
  /** aborted at the call's deadline (timeout_nano) or when the connection goes */
  signal: AbortSignal;
}

type RequestOut<M> = M extends MethodDefinition<infer _Req, infer _Res, infer ReqOut, infer _ResOut> ? ReqOut : never;
type ResponseIn<M> = M extends MethodDefinition<infer _Req, infer Res, infer _ReqOut, infer _ResOut> ? Res : never;

/** Handlers for some unary methods of a service, typed by its generated definition; the others answer UNIMPLEMENTED. */
export type TtrpcHandlers<S> =
  S extends Service<infer D, infer _H, infer _K>
    ? { [M in UnaryMethods<S> & keyof D]?: (request: RequestOut<D[M]>, ctx: TtrpcContext) => Promise<ResponseIn<D[M]>> }
    : never;

type AnyHandler = (request: object, ctx: TtrpcContext) => Promise<object>;

interface Method {
  handler: AnyHandler;
  definition: ReturnType<typeof methodDefinition>;
}

export interface TtrpcServerOptions {
  /** calls one connection may have running at once before its socket is no longer read */
  maxCallsPerConnection?: number;
  /** bytes of requests one connection's running calls may hold before its socket is no longer read (one call always runs) */
  maxRunningBytes?: number;
  /** bytes of responses one connection may have waiting to be written before its socket is no longer read */
  maxPendingWrite?: number;
}

/**
 * A ttrpc server (unary, as ttrpc v1.1.1) on a unix socket of mode 0600, e.g. the events socket
 * shims Forward to. A connection's memory is bounded: its socket is paused while it has too many
 * calls running, too many request bytes held by them or too many response bytes unwritten, and
 * an oversize frame is dropped as it arrives (answered RESOURCE_EXHAUSTED). Frames of other types
 * than Request are ignored, as v1.1.1 does. Peer credentials are not checked (containerd checks
 * SO_PEERCRED; here the socket's mode keeps other users out).
 */
export class TtrpcServer {
  private readonly services = new Map<string, Map<string, Method>>();
  private readonly connections = new Set<Connection>();
  private server: net.Server | undefined;
  private readonly limits: Limits;

  constructor(options: TtrpcServerOptions = {}) {
    this.limits = {
      maxCalls: options.maxCallsPerConnection ?? 64,
      maxRunningBytes: options.maxRunningBytes ?? 8 << 20,
      maxPendingWrite: options.maxPendingWrite ?? 1 << 20,
    };
  }

  /** Serves the given methods of a service. */
  register<S extends AnyService>(service: S, handlers: TtrpcHandlers<S>): this {
    const ref = new ServiceRef(service.dir, service.name);
    const methods = this.services.get(service.name) ?? new Map<string, Method>();
    for (const [name, handler] of Object.entries(handlers as Record<string, AnyHandler | undefined>)) {
      if (!handler) continue;
      if (service.kinds[name] !== 'unary') throw new Error(`ttrpc: ${service.name}/${name} is not a unary method`);
      methods.set(name, { handler, definition: methodDefinition(ref, name) });
    }
    this.services.set(service.name, methods);
    return this;
  }

  /** Listens on a unix socket at `path`, mode 0600; a stale socket there is replaced, a live one is AlreadyExists. */
  async listen(path: string): Promise<void> {
    if (lstatSync(path, { throwIfNoEntry: false })?.isSocket()) {
      if (await answers(path)) throw new BerthError('AlreadyExists', `ttrpc: a server already listens on ${path}`);
      unlinkSync(path);
    }
    const server = net.createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    chmodSync(path, 0o600);
    this.server = server;
  }

  /** Bytes held for all connections: unparsed input and unwritten responses. */
  heldBytes(): number {
    let n = 0;
    for (const c of this.connections) n += c.heldBytes();
    return n;
  }

  /** Stops listening and drops every connection (running handlers see their signal aborted). */
  async close(): Promise<void> {
    for (const c of this.connections) c.destroy();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(socket: net.Socket) {
    const conn = new Connection(socket, this.services, this.limits);
    this.connections.add(conn);
    socket.on('close', () => this.connections.delete(conn));
  }
}

/** Whether something accepts connections on the unix socket at path. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createConnection({ path });
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

interface Limits {
  maxCalls: number;
  maxRunningBytes: number;
  maxPendingWrite: number;
}

/** One client's connection: cuts its frames, runs its calls, writes their responses. */
class Connection {
  private readonly reader = new FrameReader();
  private running = 0;
  private runningBytes = 0;
  private readonly calls = new Set<AbortController>();

  constructor(
    private readonly socket: net.Socket,
    private readonly services: Map<string, Map<string, Method>>,
    private readonly limits: Limits,
  ) {
    socket.on('data', (chunk: Buffer) => {
      this.reader.append(chunk);
      this.pump();
    });
    socket.on('drain', () => this.pump());
    socket.on('error', () => undefined);
    socket.on('close', () => {
      for (const c of this.calls) c.abort(new BerthError('Canceled', 'ttrpc: the connection closed'));
    });
  }

  heldBytes(): number {
    return this.reader.buffered + this.socket.writableLength;
  }

  destroy() {
    this.socket.destroy();
  }

  private get busy(): boolean {
    return (
      this.running >= this.limits.maxCalls ||
      (this.running > 0 && this.runningBytes >= this.limits.maxRunningBytes) ||
      this.socket.writableLength >= this.limits.maxPendingWrite
    );
  }

  /** Handles the frames read so far while the connection is not busy; pauses the socket while it is. */
  private pump() {
    while (!this.busy && !this.socket.destroyed) {
      const event = this.reader.next();
      if (!event) break;
      this.handle(event);
    }
    if (this.busy) this.socket.pause();
    else this.socket.resume();
  }

  private handle(event: ReadEvent) {
    if (event.kind === 'oversize') {
      if (event.type === FrameType.Request)
        this.respond(event.streamId, {
          code: GrpcStatus.RESOURCE_EXHAUSTED,
          message: `message length ${event.length} exceeds maximum message size of ${maxDataSize}`,
        });
      return;
    }
    const { frame } = event;
    if (frame.type !== FrameType.Request) return; // ignored for compatibility with later protocol versions, as ttrpc v1.1.1 does
    if (frame.streamId % 2 === 0) {
      this.respond(frame.streamId, { code: GrpcStatus.INVALID_ARGUMENT, message: 'StreamID must be odd for client initiated streams' });
      return;
    }
    let request: ReturnType<typeof decodeRequest>;
    try {
      request = decodeRequest(frame.data);
    } catch (err) {
      this.respond(frame.streamId, { code: GrpcStatus.INVALID_ARGUMENT, message: `bad request: ${(err as Error).message}` });
      return;
    }
    const method = this.services.get(request.service)?.get(request.method);
    if (!method) {
      const message = this.services.has(request.service) ? `method ${request.method}` : `service ${request.service}`;
      this.respond(frame.streamId, { code: GrpcStatus.UNIMPLEMENTED, message });
      return;
    }
    let payload: object;
    try {
      payload = method.definition.requestDeserialize(request.payload);
    } catch (err) {
      this.respond(frame.streamId, {
        code: GrpcStatus.INVALID_ARGUMENT,
        message: `bad ${request.service}/${request.method} payload: ${(err as Error).message}`,
      });
      return;
    }
    this.run(frame.streamId, method, payload, frame.data.length, request.timeout_nano, metadataMap(request.metadata));
  }

  private run(streamId: number, method: Method, request: object, size: number, timeoutNano: number, metadata: Map<string, string[]>) {
    const controller = new AbortController();
    let answered = false;
    const answer = (status: { code: number; message: string }, payload?: Buffer) => {
      if (answered) return;
      answered = true;
      clearTimeout(timer);
      this.calls.delete(controller);
      this.running--;
      this.runningBytes -= size;
      this.respond(streamId, status, payload);
      this.pump();
    };
    const timeoutMs = timeoutNano / 1e6;
    const timer =
      timeoutNano > 0
        ? setTimeout(
            () => {
              controller.abort(new BerthError('DeadlineExceeded', 'context deadline exceeded'));
              answer({ code: GrpcStatus.DEADLINE_EXCEEDED, message: 'context deadline exceeded' });
            },
            Math.max(1, Math.min(timeoutMs, 2 ** 31 - 1)),
          )
        : undefined;
    this.running++;
    this.runningBytes += size;
    this.calls.add(controller);
    const ctx: TtrpcContext = { namespace: metadata.get(namespaceKey)?.[0] ?? '', metadata, signal: controller.signal };
    // a handler that throws before its promise is answered like one that rejects
    new Promise<object>((resolve) => resolve(method.handler(request, ctx))).then(
      (response) => {
        let payload: Buffer;
        try {
          payload = method.definition.responseSerialize(response);
        } catch (err) {
          answer({ code: GrpcStatus.INTERNAL, message: `bad response: ${(err as Error).message}` });
          return;
        }
        answer(ok, payload);
      },
      (err: unknown) => answer(statusOf(err)),
    );
  }

  private respond(streamId: number, status: { code: number; message: string }, payload?: Buffer) {
    if (this.socket.destroyed) return;
    let data = encodeResponse({ status, payload });
    if (data.length > maxDataSize)
      data = encodeResponse({ status: { code: GrpcStatus.RESOURCE_EXHAUSTED, message: `response of ${data.length} bytes is over ${maxDataSize}` } });
    this.socket.write(encodeFrame(streamId, FrameType.Response, data));
  }
}
