import type * as grpc from '@grpc/grpc-js';
import { channelOptions, grpcJs, maxMessageSize, methodDefinition, serviceClient, ServiceRef } from './api.ts';
import { fromGrpc } from './errors.ts';
import type { EventsClient } from './gen/containerd/services/events/v1/Events.ts';
import { UnaryChannel } from './unary-channel.ts';

export { ServiceRef };

export interface ClientOptions {
  /** unix socket path (a `unix:` prefix is accepted) */
  address: string;
  namespace?: string;
  /** a lease every call works under (containerd-lease header) */
  lease?: string;
  /** deadline for each unary call, in milliseconds */
  timeoutMs?: number;
}

/** A namespace or lease for one call, other than the client's own. */
export interface CallScope {
  namespace?: string;
  lease?: string;
}

/** What a call goes to: a service by name, or a grpc-js client (such as `client.content`). */
export type CallTarget = ServiceRef | grpc.Client;

export interface UnaryCallOptions {
  /** false: no --timeout deadline (Tasks.Wait blocks until the process exits) */
  deadline?: false;
  signal?: AbortSignal;
}

/**
 * A client for berthd (or containerd) over its unix socket. Every call carries the namespace
 * (and lease) headers. Unary calls go over one HTTP/2 connection of the client's own
 * (UnaryChannel); streams go through grpc-js clients, created on first use and sharing one
 * channel, so a process that makes only unary calls never loads grpc-js.
 */
export class BerthClient {
  readonly address: string;
  private readonly clients = new Map<string, grpc.Client>();
  private channel: grpc.Channel | undefined;
  private unaryChannel: UnaryChannel | undefined;

  constructor(readonly options: ClientOptions) {
    this.address = options.address.startsWith('unix:') ? options.address : `unix:${options.address}`;
  }

  get content(): ServiceRef {
    return this.service('content', 'Content');
  }
  /** a grpc-js client: Subscribe is called on it directly */
  get events(): EventsClient {
    return this.grpcClient(this.service('events', 'Events'));
  }
  get namespaces(): ServiceRef {
    return this.service('namespaces', 'Namespaces');
  }
  get leases(): ServiceRef {
    return this.service('leases', 'Leases');
  }
  get introspection(): ServiceRef {
    return this.service('introspection', 'Introspection');
  }
  get version(): ServiceRef {
    return this.service('version', 'Version');
  }

  /** Any containerd v1 service, e.g. service('snapshots', 'Snapshots'). */
  service(name: string, service: string): ServiceRef {
    return new ServiceRef(`containerd/services/${name}/v1`, `containerd.services.${name}.v1.${service}`);
  }

  /** A grpc-js client for a service (for streams), sharing the client's one channel. */
  grpcClient<C extends grpc.Client>(ref: ServiceRef): C {
    const key = `${ref.relDir}:${ref.name}`;
    let client = this.clients.get(key);
    if (!client) {
      const grpc = grpcJs();
      const Ctor = serviceClient(ref.relDir, ref.name);
      client = this.channel
        ? new Ctor(this.address, grpc.credentials.createInsecure(), { ...channelOptions, channelOverride: this.channel })
        : new Ctor(this.address, grpc.credentials.createInsecure(), channelOptions);
      this.channel ??= client.getChannel() as grpc.Channel;
      this.clients.set(key, client);
    }
    return client as C;
  }

  /** The headers every call carries (with `scope` in place of the client's own namespace or lease). */
  headers(scope: CallScope = {}): Record<string, string> {
    const headers: Record<string, string> = {};
    const ns = scope.namespace ?? this.options.namespace;
    if (ns) headers['containerd-namespace'] = ns;
    const lease = scope.lease ?? this.options.lease;
    if (lease) headers['containerd-lease'] = lease;
    return headers;
  }

  /** The same headers as grpc-js metadata, for calls made on grpc-js clients directly. */
  metadata(scope?: CallScope): grpc.Metadata {
    const md = new (grpcJs().Metadata)();
    for (const [k, v] of Object.entries(this.headers(scope))) md.set(k, v);
    return md;
  }

  callOptions(): grpc.CallOptions {
    return this.options.timeoutMs ? { deadline: Date.now() + this.options.timeoutMs } : {};
  }

  /** Calls a unary method and resolves with its response; failures become BerthErrors. */
  async unary<Res>(target: CallTarget, method: string, request: object, scope?: CallScope | grpc.Metadata, opts: UnaryCallOptions = {}): Promise<Res> {
    const [res] = await this.call<Res>(false, target, method, request, scope, opts);
    return res!;
  }

  /** Collects every message of a server stream (read whole: for streams of a bounded size). */
  collect<Res>(target: CallTarget, method: string, request: object, scope?: CallScope | grpc.Metadata, opts: UnaryCallOptions = {}): Promise<Res[]> {
    return this.call<Res>(true, target, method, request, scope, opts);
  }

  private async call<Res>(stream: boolean, target: CallTarget, method: string, request: object, scope: CallScope | grpc.Metadata | undefined, opts: UnaryCallOptions): Promise<Res[]> {
    const def = target instanceof ServiceRef ? methodDefinition(target, method) : (target.constructor as grpc.ServiceClientConstructor).service?.[method];
    if (!def || def.responseStream !== stream) throw new Error(`no ${stream ? 'server-streaming' : 'unary'} method ${method}`);
    let headers: Record<string, string>;
    if (scope && 'getMap' in scope) {
      headers = {};
      for (const [k, v] of Object.entries(scope.getMap())) headers[k] = String(v);
    } else headers = this.headers(scope);
    const deadline = opts.deadline === false || !this.options.timeoutMs ? undefined : Date.now() + this.options.timeoutMs;
    this.unaryChannel ??= new UnaryChannel(this.address);
    return this.unaryChannel.invoke<Res>(def, request, { headers, deadline, signal: opts.signal, maxMessageSize });
  }

  /**
   * Iterates a server stream; failures become BerthErrors. The per-call deadline applies unless
   * `deadline: false` (for streams that run until cancelled, such as event subscriptions).
   */
  async *stream<Res>(
    target: CallTarget,
    method: string,
    request: object,
    opts: { md?: grpc.Metadata; deadline?: boolean; onCall?: (call: grpc.ClientReadableStream<Res>) => void } = {},
  ): AsyncGenerator<Res> {
    const client = target instanceof ServiceRef ? this.grpcClient(target) : target;
    const fn = (client as unknown as Record<string, Function>)[method];
    if (typeof fn !== 'function') throw new Error(`no method ${method}`);
    const call = fn.call(client, request, opts.md ?? this.metadata(), opts.deadline === false ? {} : this.callOptions()) as grpc.ClientReadableStream<Res>;
    opts.onCall?.(call);
    try {
      for await (const msg of call) yield msg as Res;
    } catch (err) {
      throw fromGrpc(err);
    } finally {
      call.cancel();
    }
  }

  close() {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
    this.unaryChannel?.close();
    this.unaryChannel = undefined;
  }
}
