import type * as grpc from '@grpc/grpc-js';
import { channelOptions, grpcJs, maxMessageSize, methodDefinition, ServiceRef, serviceClient } from '../api/codec.ts';
import type { EventsClient } from '../api/gen/containerd/services/events/v1/Events.ts';
import type { AnyService, MethodKind } from '../api/service.ts';
import { Containers, Content, Diff, Images, Introspection, Leases, Namespaces, Pull, Snapshots, Tasks, Version } from '../api/services.ts';
import type { BerthError } from '../core/errors.ts';
import { Channel, type CallOptions as ChannelCallOptions, type ClientCall, type MethodCodec } from './grpc/channel.ts';
import { type CallOptions, type CallScope, type Client, clientService, type StreamOptions } from './typed.ts';

export type { CallScope };
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

/** What a call of the string API goes to: a service by name, a typed client (such as `client.content`), or a grpc-js client. */
export type CallTarget = ServiceRef | { readonly [clientService]: AnyService } | grpc.Client;

type MethodDef = grpc.MethodDefinition<object, object>;

/** A method's codecs, decoding to the type the caller names (a typed client's comes from the generated types). */
const codecOf = <Req, Res>(def: MethodDef) => def as unknown as MethodCodec<Req, Res>;

export interface UnaryCallOptions {
  /** false: no --timeout deadline (Tasks.Wait blocks until the process exits) */
  deadline?: false;
  signal?: AbortSignal;
}

/**
 * A client for berthd (or containerd) over its unix socket. Every call carries the namespace
 * (and lease) headers, and every call goes over one HTTP/2 connection of the client's own
 * (Channel), without grpc-js. Services are typed clients (`c.tasks.Kill({...})`, see
 * transport/typed.ts); grpcClient() gives grpc-js clients on a channel of their own, for
 * callers that want grpc-js's API (tests use them as a second, independent client).
 */
export class BerthClient {
  readonly address: string;
  private readonly clients = new Map<string, grpc.Client>();
  private readonly typed = new Map<AnyService, object>();
  private grpcChannel: grpc.Channel | undefined;
  private channel: Channel | undefined;

  constructor(readonly options: ClientOptions) {
    this.address = options.address.startsWith('unix:') ? options.address : `unix:${options.address}`;
  }

  get containers(): Client<typeof Containers> {
    return this.service(Containers);
  }
  get content(): Client<typeof Content> {
    return this.service(Content);
  }
  get diff(): Client<typeof Diff> {
    return this.service(Diff);
  }
  /** a grpc-js client (see grpcClient); the typed one is service(Events) */
  get events(): EventsClient {
    return this.grpcClient(this.service('events', 'Events'));
  }
  get images(): Client<typeof Images> {
    return this.service(Images);
  }
  get introspection(): Client<typeof Introspection> {
    return this.service(Introspection);
  }
  get leases(): Client<typeof Leases> {
    return this.service(Leases);
  }
  get namespaces(): Client<typeof Namespaces> {
    return this.service(Namespaces);
  }
  /** berth's own server-side pull (berth.services.pull.v1.Pull) */
  get pull(): Client<typeof Pull> {
    return this.service(Pull);
  }
  get snapshots(): Client<typeof Snapshots> {
    return this.service(Snapshots);
  }
  get tasks(): Client<typeof Tasks> {
    return this.service(Tasks);
  }
  get version(): Client<typeof Version> {
    return this.service(Version);
  }

  /** The typed client of a service of api/services.ts, made once per BerthClient. */
  service<S extends AnyService>(service: S): Client<S>;
  /** Any containerd v1 service by name, e.g. service('snapshots', 'Snapshots'), for the string API. */
  service(name: string, service: string): ServiceRef;
  service(s: AnyService | string, name?: string): object {
    if (typeof s === 'string') return new ServiceRef(`containerd/services/${s}/v1`, `containerd.services.${s}.v1.${name}`);
    let client = this.typed.get(s);
    if (!client) this.typed.set(s, (client = this.typedClient(s)));
    return client;
  }

  /** One closure per method, each finding its path and codecs on its first call. */
  private typedClient(s: AnyService): object {
    const ref = new ServiceRef(s.dir, s.name);
    const client: Record<string | symbol, unknown> = { [clientService]: s };
    for (const [method, kind] of Object.entries<MethodKind>(s.kinds)) {
      let def: MethodDef | undefined;
      const definition = () => (def ??= methodDefinition(ref, method));
      if (kind === 'unary') client[method] = (request: object, o: CallOptions = {}) => this.invokeUnary(definition(), request, o);
      else if (kind === 'server') client[method] = (request: object, o: StreamOptions = {}) => this.serverStream(definition(), request, o);
      else client[method] = (o: CallOptions = {}) => this.connection().open(codecOf(definition()), this.callOptions(o, o.deadline, o.signal));
    }
    return client;
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

  private async invokeUnary<Res>(def: MethodDef, request: object, o: CallOptions): Promise<Res> {
    const [res] = await this.connection().invoke<Res>(def, request, this.callOptions(o, o.deadline, o.signal));
    return res!;
  }

  /** Collects every message of a server stream (read whole: for streams of a bounded size). */
  collect<Res>(target: CallTarget, method: string, request: object, scope?: CallScope, opts: UnaryCallOptions = {}): Promise<Res[]> {
    return this.call<Res>(true, target, method, request, scope, opts);
  }

  private definition(target: CallTarget, method: string): MethodDef {
    let def: MethodDef | undefined;
    if (target instanceof ServiceRef) def = methodDefinition(target, method);
    else if (clientService in target) def = methodDefinition(new ServiceRef(target[clientService].dir, target[clientService].name), method);
    else def = (target.constructor as grpc.ServiceClientConstructor).service?.[method];
    if (!def) throw new Error(`no method ${method}`);
    return def;
  }

  /** The call options for the channel: the scope's headers, and the --timeout deadline unless `deadline` is false. */
  private callOptions(scope: CallScope | undefined, deadline: boolean | undefined, signal?: AbortSignal): ChannelCallOptions {
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
    return this.connection().open(codecOf<Req, Res>(this.definition(target, method)), this.callOptions(opts.scope, opts.deadline));
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
    const { scope, deadline, onCall } = opts;
    yield* this.serverStream<Res>(this.definition(target, method), request, { ...scope, deadline: deadline === false ? false : undefined, onCall });
  }

  private async *serverStream<Res>(def: MethodDef, request: object, o: StreamOptions): AsyncGenerator<Res> {
    const call = this.connection().open(codecOf<object, Res>(def), this.callOptions(o, o.deadline, o.signal));
    o.onCall?.(call);
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
