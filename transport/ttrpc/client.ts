import * as net from 'node:net';
import { methodDefinition, ServiceRef } from '../../api/codec.ts';
import type { AnyService, MethodKind, Service } from '../../api/service.ts';
import { BerthError } from '../../core/errors.ts';
import type { CallOptions, Client } from '../typed.ts';
import { decodeResponse, encodeRequest, errorOf, namespaceKey } from './envelope.ts';
import { encodeFrame, FrameReader, FrameType, maxDataSize } from './frames.ts';

/** The socket path of a unix address (`unix:///PATH`, `unix:PATH` or a plain path). */
export const socketPathOf = (address: string) => address.replace(/^unix:(\/\/)?/, '');

export interface ChannelCallOptions {
  /** metadata pairs; keys are lower-cased on the wire */
  metadata?: Array<[string, string]>;
  /** deadline in ms from now, sent as timeout_nano and enforced here; 0 or absent = none */
  timeoutMs?: number;
  signal?: AbortSignal;
}

const maxStreamId = 0xffff_ffff;

interface Pending {
  resolve(payload: Buffer): void;
  reject(err: BerthError): void;
}

/**
 * One ttrpc connection to a server on a unix socket (a shim's, or containerd's events socket),
 * unary calls only (ttrpc v1.1.1): calls go concurrently on odd stream ids 1, 3, 5…; a response
 * with a status other than OK rejects with the BerthError of its gRPC code. When the connection
 * is lost every pending and later call fails with Unavailable; there is no redial.
 */
export class TtrpcChannel {
  /** called once when the connection is gone (closed by either side, or failed) */
  onClose: (err?: Error) => void = () => undefined;

  private nextStreamId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly reader = new FrameReader();
  private closed: BerthError | undefined;

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (err) => this.lost(err));
    socket.on('close', () => this.lost());
  }

  /** Connects to the server at `address` (a unix socket path, `unix://` prefix accepted). */
  static connect(address: string, timeoutMs = 5000): Promise<TtrpcChannel> {
    return new Promise((resolve, reject) => {
      const socket = net.createConnection({ path: socketPathOf(address) });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new BerthError('DeadlineExceeded', `ttrpc: connecting to ${address} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(new BerthError('Unavailable', `ttrpc: cannot connect to ${address}: ${err.message}`, { cause: err }));
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new TtrpcChannel(socket));
      });
    });
  }

  /** Calls service/method with an encoded request; resolves with the encoded response. */
  call(service: string, method: string, payload: Uint8Array, o: ChannelCallOptions = {}): Promise<Buffer> {
    if (this.closed) return Promise.reject(this.closed);
    if (o.signal?.aborted) return Promise.reject(new BerthError('Canceled', `${service}/${method}: canceled`));
    const timeoutMs = o.timeoutMs ?? 0;
    const data = encodeRequest({
      service,
      method,
      payload,
      timeout_nano: timeoutMs > 0 ? Math.round(timeoutMs * 1e6) : 0,
      metadata: (o.metadata ?? []).map(([key, value]) => ({ key: key.toLowerCase(), value })),
    });
    if (data.length > maxDataSize)
      return Promise.reject(new BerthError('ResourceExhausted', `${service}/${method}: request of ${data.length} bytes is over ttrpc's ${maxDataSize}`));
    const id = this.nextStreamId;
    if (id > maxStreamId) return Promise.reject(new BerthError('Unavailable', 'ttrpc: this connection has used all its stream ids'));
    this.nextStreamId += 2;
    return new Promise<Buffer>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const abort = () => settle(new BerthError('Canceled', `${service}/${method}: canceled`));
      const settle = (err: BerthError | undefined, response?: Buffer) => {
        if (!this.pending.delete(id)) return;
        clearTimeout(timer);
        o.signal?.removeEventListener('abort', abort);
        if (err) reject(err);
        else resolve(response!);
      };
      this.pending.set(id, { resolve: (r) => settle(undefined, r), reject: (e) => settle(e) });
      if (timeoutMs > 0)
        timer = setTimeout(() => settle(new BerthError('DeadlineExceeded', `${service}/${method}: deadline exceeded after ${timeoutMs} ms`)), timeoutMs);
      o.signal?.addEventListener('abort', abort, { once: true });
      this.socket.write(encodeFrame(id, FrameType.Request, data));
    });
  }

  /** Calls still waiting for their response. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Closes the connection; pending calls fail with Unavailable. */
  close(): void {
    this.lost();
    this.socket.destroy();
  }

  private receive(chunk: Buffer) {
    for (const event of this.reader.push(chunk)) {
      // responses to calls no longer waiting (timed out, canceled) and other frame types are dropped
      if (event.kind === 'oversize') {
        if (event.type === FrameType.Response)
          this.pending.get(event.streamId)?.reject(new BerthError('ResourceExhausted', `ttrpc: response of ${event.length} bytes is over ${maxDataSize}`));
        continue;
      }
      const { frame } = event;
      if (frame.type !== FrameType.Response) continue;
      const call = this.pending.get(frame.streamId);
      if (!call) continue;
      let response: ReturnType<typeof decodeResponse>;
      try {
        response = decodeResponse(frame.data);
      } catch (err) {
        call.reject(new BerthError('Internal', `ttrpc: bad response: ${(err as Error).message}`));
        continue;
      }
      const code = response.status?.code ?? 0;
      if (code !== 0) call.reject(errorOf(code, response.status?.message ?? ''));
      else call.resolve(response.payload);
    }
  }

  private lost(err?: Error) {
    if (this.closed) return;
    this.closed = new BerthError('Unavailable', `ttrpc: connection closed${err ? `: ${err.message}` : ''}`, { cause: err });
    for (const call of [...this.pending.values()]) call.reject(this.closed);
    this.onClose(err);
  }
}

export interface TtrpcClientOptions {
  /** the containerd namespace every call carries (containerd-namespace-ttrpc), unless a call names its own */
  namespace?: string;
  /** deadline of each call in ms, unless a call sets its own timeoutMs; 0 or absent = none */
  timeoutMs?: number;
}

/** The names of a service's unary methods. */
export type UnaryMethods<S> = S extends Service<infer _D, infer _H, infer K> ? { [M in keyof K]: K[M] extends 'unary' ? M : never }[keyof K] : never;

/** The unary methods of a service's typed client (transport/typed.ts): for containerd.task.v2.Task, all of Client<typeof TaskV2>. */
export type TtrpcClient<S> = Pick<Client<S>, UnaryMethods<S> & keyof Client<S>>;

/**
 * A typed client of a service over a ttrpc channel: `await ttrpcClient(TaskV2, ch, { namespace }).Kill({ id, signal: 9 })`.
 * Request and response payloads go through the project's codec, as on gRPC.
 */
export function ttrpcClient<S extends AnyService>(service: S, channel: TtrpcChannel, options: TtrpcClientOptions = {}): TtrpcClient<S> {
  const ref = new ServiceRef(service.dir, service.name);
  const client: Record<string, unknown> = {};
  for (const [method, kind] of Object.entries<MethodKind>(service.kinds)) {
    if (kind !== 'unary') continue;
    let def: ReturnType<typeof methodDefinition> | undefined;
    client[method] = async (request: object, o: CallOptions = {}) => {
      def ??= methodDefinition(ref, method);
      const namespace = o.namespace ?? options.namespace;
      const payload = await channel.call(service.name, method, def.requestSerialize(request), {
        metadata: namespace ? [[namespaceKey, namespace]] : [],
        timeoutMs: o.deadline === false ? 0 : (o.timeoutMs ?? options.timeoutMs ?? 0),
        signal: o.signal,
      });
      try {
        return def.responseDeserialize(payload);
      } catch (err) {
        throw new BerthError('Internal', `${service.name}/${method}: bad response payload: ${(err as Error).message}`);
      }
    };
  }
  return client as TtrpcClient<S>;
}
