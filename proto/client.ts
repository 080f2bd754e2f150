import * as grpc from '@grpc/grpc-js';
import { channelOptions, serviceClient } from './api.ts';
import { fromGrpc } from './errors.ts';
import type { ContentClient } from './gen/containerd/services/content/v1/Content.ts';
import type { EventsClient } from './gen/containerd/services/events/v1/Events.ts';
import type { IntrospectionClient } from './gen/containerd/services/introspection/v1/Introspection.ts';
import type { LeasesClient } from './gen/containerd/services/leases/v1/Leases.ts';
import type { NamespacesClient } from './gen/containerd/services/namespaces/v1/Namespaces.ts';
import type { VersionClient } from './gen/containerd/services/version/v1/Version.ts';

export interface ClientOptions {
  /** unix socket path (a `unix:` prefix is accepted) */
  address: string;
  namespace?: string;
  /** a lease every call works under (containerd-lease header) */
  lease?: string;
  /** deadline for each unary call, in milliseconds */
  timeoutMs?: number;
}

/**
 * A client for berthd (or containerd) over its unix socket. Services are created on first use,
 * all sharing one channel, and every call carries the namespace (and lease) headers.
 */
export class BerthClient {
  readonly address: string;
  private readonly services = new Map<string, grpc.Client>();
  private channel: grpc.Channel | undefined;

  constructor(readonly options: ClientOptions) {
    this.address = options.address.startsWith('unix:') ? options.address : `unix:${options.address}`;
  }

  get content(): ContentClient {
    return this.service('content', 'Content');
  }
  get namespaces(): NamespacesClient {
    return this.service('namespaces', 'Namespaces');
  }
  get leases(): LeasesClient {
    return this.service('leases', 'Leases');
  }
  get events(): EventsClient {
    return this.service('events', 'Events');
  }
  get introspection(): IntrospectionClient {
    return this.service('introspection', 'Introspection');
  }
  get version(): VersionClient {
    return this.service('version', 'Version');
  }

  /** A client for any containerd v1 service, e.g. service('snapshots', 'Snapshots'). */
  service<C extends grpc.Client>(name: string, service: string): C {
    const key = `${name}.${service}`;
    let client = this.services.get(key);
    if (!client) {
      const Ctor = serviceClient(`containerd/services/${name}/v1`, `containerd.services.${name}.v1.${service}`);
      client = this.channel
        ? new Ctor(this.address, grpc.credentials.createInsecure(), { ...channelOptions, channelOverride: this.channel })
        : new Ctor(this.address, grpc.credentials.createInsecure(), channelOptions);
      this.channel ??= client.getChannel() as grpc.Channel;
      this.services.set(key, client);
    }
    return client as C;
  }

  /** The headers every call carries. */
  metadata(extra?: { namespace?: string; lease?: string }): grpc.Metadata {
    const md = new grpc.Metadata();
    const ns = extra?.namespace ?? this.options.namespace;
    if (ns) md.set('containerd-namespace', ns);
    const lease = extra?.lease ?? this.options.lease;
    if (lease) md.set('containerd-lease', lease);
    return md;
  }

  callOptions(): grpc.CallOptions {
    return this.options.timeoutMs ? { deadline: Date.now() + this.options.timeoutMs } : {};
  }

  /** Calls a unary method and resolves with its response; failures become BerthErrors. */
  unary<Res>(client: grpc.Client, method: string, request: object, md: grpc.Metadata = this.metadata()): Promise<Res> {
    const fn = (client as unknown as Record<string, Function>)[method];
    if (typeof fn !== 'function') throw new Error(`no method ${method}`);
    return new Promise<Res>((resolve, reject) => {
      fn.call(client, request, md, this.callOptions(), (err: grpc.ServiceError | null, res: Res) => (err ? reject(fromGrpc(err)) : resolve(res)));
    });
  }

  /** Collects every message of a server stream. */
  async collect<Res>(client: grpc.Client, method: string, request: object, md: grpc.Metadata = this.metadata()): Promise<Res[]> {
    const out: Res[] = [];
    for await (const msg of this.stream<Res>(client, method, request, { md })) out.push(msg);
    return out;
  }

  /**
   * Iterates a server stream; failures become BerthErrors. The per-call deadline applies unless
   * `deadline: false` (for streams that run until cancelled, such as event subscriptions).
   */
  async *stream<Res>(
    client: grpc.Client,
    method: string,
    request: object,
    opts: { md?: grpc.Metadata; deadline?: boolean; onCall?: (call: grpc.ClientReadableStream<Res>) => void } = {},
  ): AsyncGenerator<Res> {
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
    for (const client of this.services.values()) client.close();
    this.services.clear();
  }
}
