import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { definitionOf, maxMessageSize, ServiceRef } from '../../api/codec.ts';
import { protoDir } from '../../api/compile.ts';
import type { EventsClient } from '../../api/gen/containerd/services/events/v1/Events.ts';
import { loadOptions } from '../../api/load-options.ts';
import type { AnyService } from '../../api/service.ts';
import { Events } from '../../api/services.ts';
import { type AnyMessage, unpackAny } from '../../core/any.ts';
import type { BerthClient, CallScope } from '../../transport/client.ts';

// grpc-js clients: a second client implementation, independent of berth's own transport, that
// the tests call berthd and the shims with (as grpc-go's ctr is a third).

/** grpc-js's message limits set to berth's (containerd's Go client uses 16 MiB both ways; grpc-js receives 4 MiB by default). */
export const channelOptions: grpc.ChannelOptions = {
  'grpc.max_receive_message_length': maxMessageSize,
  'grpc.max_send_message_length': maxMessageSize,
};

const constructors = new Map<AnyService, grpc.ServiceClientConstructor>();

/** A grpc-js client class for a service, built from the build's descriptors (the same codecs as berth's). */
function clientConstructor(service: AnyService): grpc.ServiceClientConstructor {
  let ctor = constructors.get(service);
  if (!ctor) {
    ctor = grpc.makeClientConstructor(definitionOf(new ServiceRef(service.dir, service.name)), service.name);
    constructors.set(service, ctor);
  }
  return ctor;
}

/** The grpc-js clients made for one BerthClient, on one grpc-js channel to its socket. */
const opened = new WeakMap<BerthClient, { clients: Map<AnyService, grpc.Client>; channel?: grpc.Channel }>();

/**
 * A grpc-js client of a service on the socket of a BerthClient; the clients of one BerthClient
 * share one channel. Calls carry no headers of their own: pass metadata(c).
 */
export function grpcClient<C extends grpc.Client>(c: BerthClient, service: AnyService): C {
  let mine = opened.get(c);
  if (!mine) opened.set(c, (mine = { clients: new Map() }));
  let client = mine.clients.get(service);
  if (!client) {
    const Ctor = clientConstructor(service);
    const options = mine.channel ? { ...channelOptions, channelOverride: mine.channel } : channelOptions;
    client = new Ctor(c.address, grpc.credentials.createInsecure(), options);
    mine.channel ??= client.getChannel() as grpc.Channel;
    mine.clients.set(service, client);
  }
  return client as C;
}

/** The grpc-js client of the Events service (for Subscribe as a grpc-js stream). */
export const grpcEvents = (c: BerthClient): EventsClient => grpcClient<EventsClient>(c, Events);

/** A BerthClient's headers (namespace, lease; or those of `scope`) as grpc-js metadata. */
export function metadata(c: BerthClient, scope?: CallScope): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(c.headers(scope))) md.set(k, v);
  return md;
}

/** Closes the grpc-js clients made for a BerthClient. */
export function closeGrpcClients(c: BerthClient): void {
  const mine = opened.get(c);
  if (!mine) return;
  for (const client of mine.clients.values()) client.close();
  opened.delete(c);
}

const loaded = new Map<string, grpc.GrpcObject>();

/**
 * Loads the .proto files of one folder under api/proto/ (e.g. 'containerd/runtime/task/v2') with
 * proto-loader, the way a grpc-js program would, and returns the gRPC object tree.
 */
export function loadProtoDir(relDir: string): grpc.GrpcObject {
  let tree = loaded.get(relDir);
  if (!tree) {
    const files = readdirSync(join(protoDir, relDir))
      .filter((f) => f.endsWith('.proto'))
      .map((f) => join(relDir, f));
    tree = grpc.loadPackageDefinition(protoLoader.loadSync(files, { ...loadOptions, includeDirs: [protoDir] }));
    loaded.set(relDir, tree);
  }
  return tree;
}

/** Looks up a dotted name (e.g. containerd.task.v2.Task) in a loaded tree. */
export function lookup<T>(tree: grpc.GrpcObject, name: string): T {
  let node: unknown = tree;
  for (const part of name.split('.')) node = (node as Record<string, unknown>)?.[part];
  if (!node) throw new Error(`proto symbol ${name} not found`);
  return node as T;
}

/** The /tasks/exit events a subscriber that arrives now gets within `ms` (including those the daemon kept from before it served). */
export async function exitEventsFor(c: BerthClient, ms: number): Promise<Array<{ container_id: string; id: string; exit_status: number }>> {
  const events = grpcEvents(c).Subscribe({ filters: ['topic=="/tasks/exit"'] }, metadata(c));
  const seen: Array<{ container_id: string; id: string; exit_status: number }> = [];
  events.on('data', (e: { event: AnyMessage }) => seen.push(unpackAny(e.event).message as { container_id: string; id: string; exit_status: number }));
  events.on('error', () => undefined);
  await new Promise((r) => setTimeout(r, ms));
  events.cancel();
  return seen;
}
