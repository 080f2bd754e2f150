import type * as grpc from '@grpc/grpc-js';
import { maxMessageSize } from '../api/descriptor-files.ts';
import type { AnyService, MethodKind } from '../api/service.ts';
import { Containers, Content, Diff, Images, Introspection, Leases, Logs, Namespaces, Pull, Run, Snapshots, Tasks, Version } from '../api/services.ts';
import type { BerthError } from '../core/errors.ts';
import { Channel, type CallOptions as ChannelCallOptions, type MethodCodec } from './grpc/channel.ts';
import type { CallOptions, CallScope, Client, StreamOptions } from './typed.ts';

export type { CallScope };

export interface ClientOptions {
  /** unix socket path (a `unix:` prefix is accepted) */
  address: string;
  namespace?: string;
  /** a lease every call works under (containerd-lease header) */
  lease?: string;
  /** deadline for each unary call, in milliseconds */
  timeoutMs?: number;
}

type MethodDef = grpc.MethodDefinition<object, object>;

/** How a client finds a method's path and codecs (BerthClient: protobufjs's, api/codec.ts; api/wire.ts: its own). */
export type MethodCodecs = (service: AnyService, method: string) => MethodDef;

/** A method's codecs, decoding to the type the caller names (a typed client's comes from the generated types). */
const codecOf = <Req, Res>(def: MethodDef) => def as unknown as MethodCodec<Req, Res>;

/**
 * A client for berthd (or containerd) over its unix socket, with the codecs it is given (see
 * BerthClient in client.ts for the usual ones). Every call carries the namespace (and lease)
 * headers, and every call goes over one HTTP/2 connection of the client's own (Channel), without
 * grpc-js. Services are typed clients (`c.tasks.Kill({...})`, see transport/typed.ts).
 */
export class ServiceClient {
  readonly address: string;
  private readonly typed = new Map<AnyService, object>();
  private channel: Channel | undefined;
  private readonly ownsChannel: boolean;

  /** `channel`: a connection to share (another client owns it and closes it). */
  constructor(
    readonly options: ClientOptions,
    private readonly codecs: MethodCodecs,
    channel?: Channel,
  ) {
    this.address = options.address.startsWith('unix:') ? options.address : `unix:${options.address}`;
    this.channel = channel;
    this.ownsChannel = !channel;
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
  /** berth's own container logs (berth.services.logs.v1.Logs) */
  get logs(): Client<typeof Logs> {
    return this.service(Logs);
  }
  /** berth's own server-side run (berth.services.run.v1.Run) */
  get run(): Client<typeof Run> {
    return this.service(Run);
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

  /** The typed client of a service of api/services.ts, made once per client. */
  service<S extends AnyService>(s: S): Client<S> {
    let client = this.typed.get(s);
    if (!client) this.typed.set(s, (client = this.typedClient(s)));
    return client as Client<S>;
  }

  /** One closure per method, each finding its path and codecs on its first call. */
  private typedClient(s: AnyService): object {
    const client: Record<string, unknown> = {};
    for (const [method, kind] of Object.entries<MethodKind>(s.kinds)) {
      let def: MethodDef | undefined;
      const definition = () => (def ??= this.codecs(s, method));
      if (kind === 'unary') client[method] = (request: object, o: CallOptions = {}) => this.invokeUnary(definition(), request, o);
      else if (kind === 'server') client[method] = (request: object, o: StreamOptions = {}) => this.serverStream(definition(), request, o);
      else client[method] = (o: CallOptions = {}) => this.connection().open(codecOf(definition()), this.callOptions(o));
    }
    return client;
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

  private async invokeUnary<Res>(def: MethodDef, request: object, o: CallOptions): Promise<Res> {
    const [res] = await this.connection().invoke<Res>(def, request, this.callOptions(o));
    return res!;
  }

  /** The call options for the channel: the scope's headers, and the call's or the client's deadline unless `deadline` is false. */
  private callOptions(o: CallOptions): ChannelCallOptions {
    const timeout = o.deadline === false ? undefined : (o.timeoutMs ?? this.options.timeoutMs);
    return { headers: this.headers(o), deadline: timeout ? Date.now() + timeout : undefined, signal: o.signal, maxMessageSize };
  }

  /**
   * Connects now rather than at the first call, so that the connection is made while the caller
   * still prepares (loading a method's codec takes as long).
   */
  connect(): this {
    this.connection().warm();
    return this;
  }

  private connection(): Channel {
    return (this.channel ??= new Channel(this.address));
  }

  private async *serverStream<Res>(def: MethodDef, request: object, o: StreamOptions): AsyncGenerator<Res> {
    const call = this.connection().open(codecOf<object, Res>(def), this.callOptions(o));
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
    if (this.ownsChannel) this.channel?.close();
    this.channel = undefined;
  }
}
