import type * as grpc from '@grpc/grpc-js';
import { channelOptions, grpcJs, maxMessageSize, methodDefinition, ServiceRef, serviceClient } from '../api/codec.ts';
import type { EventsClient } from '../api/gen/containerd/services/events/v1/Events.ts';
import type { BerthError } from '../core/errors.ts';
import { type CallOptions, Channel, type ClientCall, type MethodCodec } from './grpc/channel.ts';

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
 * (and lease) headers, and every call goes over one HTTP/2 connection of the client's own
 * (Channel), without grpc-js. grpcClient() gives grpc-js clients on a channel of their own,
 * for callers that want grpc-js's API (tests use them as a second, independent client).
 */
export class BerthClient {
  readonly address: string;
  private readonly clients = new Map<string, grpc.Client>();
  private grpcChannel: grpc.Channel | undefined;
  private channel: Channel | undefined;

  constructor(readonly options: ClientOptions) {
    this.address = options.address.startsWith('unix:') ? options.address : `unix:${options.address}`;
  }

  get content(): ServiceRef {
    return this.service('content', 'Content');
  }
  /** a grpc-js client (see grpcClient) */
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

  /** A grpc-js client for a service, sharing one grpc-js channel with the others. */
  grpcClient<C extends grpc.Client>(ref: ServiceRef): C {
    const key = `${ref.relDir}:${ref.name}`;
    let client = this.clients.get(key);
    if (!client) {
      const grpc = grpcJs();
      const Ctor = serviceClient(ref.relDir, ref.name);
      client = this.grpcChannel
        ? new Ctor(this.address, grpc.credentials.createInsecure(), { ...channelOptions, channelOverride: this.grpcChannel })
        : new Ctor(this.address, grpc.credentials.createInsecure(), channelOptions);
      this.grpcChannel ??= client.getChannel() as grpc.Channel;
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

  /** Calls a unary method and resolves with its response; failures become BerthErrors. */
  async unary<Res>(target: CallTarget, method: string, request: object, scope?: CallScope, opts: UnaryCallOptions = {}): Promise<Res> {
    const [res] = await this.call<Res>(false, target, method, request, scope, opts);
    return res!;
  }

  /** Collects every message of a server stream (read whole: for streams of a bounded size). */
  collect<Res>(target: CallTarget, method: string, request: object, scope?: CallScope, opts: UnaryCallOptions = {}): Promise<Res[]> {
    return this.call<Res>(true, target, method, request, scope, opts);
  }

  private definition(target: CallTarget, method: string): grpc.MethodDefinition<object, object> {
    const def = target instanceof ServiceRef ? methodDefinition(target, method) : (target.constructor as grpc.ServiceClientConstructor).service?.[method];
    if (!def) throw new Error(`no method ${method}`);
    return def as grpc.MethodDefinition<object, object>;
  }

  /** The call options for the channel: the scope's headers, and the --timeout deadline unless `deadline` is false. */
  private callOptions(scope: CallScope | undefined, deadline: boolean | undefined, signal?: AbortSignal): CallOptions {
    const timeout = deadline === false ? undefined : this.options.timeoutMs;
    return { headers: this.headers(scope), deadline: timeout ? Date.now() + timeout : undefined, signal, maxMessageSize };
  }

  private connection(): Channel {
    return (this.channel ??= new Channel(this.address));
  }

  private async call<Res>(
    stream: boolean,
    target: CallTarget,
    method: string,
    request: object,
    scope: CallScope | undefined,
    opts: UnaryCallOptions,
  ): Promise<Res[]> {
    const def = this.definition(target, method);
    if (def.responseStream !== stream || def.requestStream) throw new Error(`no ${stream ? 'server-streaming' : 'unary'} method ${method}`);
    return this.connection().invoke<Res>(def, request, this.callOptions(scope, opts.deadline, opts.signal));
  }

  /** Starts a call of any kind (streams both ways) on the client's connection; see ClientCall. */
  open<Req extends object, Res>(target: CallTarget, method: string, opts: { scope?: CallScope; deadline?: boolean } = {}): ClientCall<Req, Res> {
    const def = this.definition(target, method) as unknown as MethodCodec<Req, Res>;
    return this.connection().open(def, this.callOptions(opts.scope, opts.deadline));
  }

  /**
   * Iterates a server stream; failures become BerthErrors. The per-call deadline applies unless
   * `deadline: false` (for streams that run until cancelled, such as event subscriptions).
   * Messages not yet taken hold the stream back (HTTP/2 flow control) rather than pile up.
   */
  async *stream<Res>(
    target: CallTarget,
    method: string,
    request: object,
    opts: { scope?: CallScope; deadline?: boolean; onCall?: (call: { cancel(): void }) => void } = {},
  ): AsyncGenerator<Res> {
    const call = this.open<object, Res>(target, method, opts);
    opts.onCall?.(call);
    const queue: Res[] = [];
    let done = false;
    let failure: BerthError | undefined;
    let wake: (() => void) | undefined;
    call.onMessage = (m) => {
      queue.push(m);
      if (queue.length >= 64) call.pause();
      wake?.();
    };
    call.onDone = (err) => {
      done = true;
      failure = err;
      wake?.();
    };
    call.write(request);
    call.end();
    try {
      for (;;) {
        if (queue.length > 0) {
          const m = queue.shift()!;
          if (queue.length < 16) call.resume();
          yield m;
        } else if (done) {
          if (failure) throw failure;
          return;
        } else {
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
      }
    } finally {
      if (!done) call.cancel();
    }
  }

  close() {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
    this.channel?.close();
    this.channel = undefined;
  }
}
