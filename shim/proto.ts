// The protobuf side of the serving process: the gRPC service definitions of the two services it
// serves, and the few messages it packs into Any fields itself (event payloads, runc options,
// process details). One protobufjs root over just these files, built without
// @grpc/proto-loader: the descriptor objects proto-loader makes cost ~30 ms at every shim start,
// and the shim's start-up is on the critical path of each task create.

import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { serviceDefinition as definitionOf } from '../api/codec.ts';
import { protoDir } from '../api/compile.ts';
import { loadOptions } from '../api/load-options.ts';
import type { AnyMessage } from '../core/any.ts';
import { invalidArgument } from '../core/errors.ts';

let root: protobuf.Root | undefined;

function shimRoot(): protobuf.Root {
  if (root) return root;
  const r = new protobuf.Root();
  r.resolvePath = (_origin, target) => (target.startsWith('google/protobuf/') || target.startsWith('/') ? target : join(protoDir, target));
  r.loadSync(
    [
      'containerd/runtime/task/v2/shim.proto',
      'berth/shim/v1/events.proto',
      'berth/shim/v1/warm.proto',
      'containerd/events/task.proto',
      'containerd/runc/options/oci.proto',
      'google/protobuf/any.proto',
    ],
    { keepCase: true },
  );
  r.resolveAll();
  root = r;
  return r;
}

const toObjectOptions: protobuf.IConversionOptions = { ...loadOptions };

/**
 * Generates the codecs of every message type of the shim's files now. protobufjs generates a
 * type's encoder, decoder and converters on its first use, ~0.5–4 ms each: a warm shim does it
 * while it waits, not between `runc create` and Create's answer (the first event) or in Start.
 */
export function warmCodecs(): void {
  const visit = (ns: protobuf.NamespaceBase) => {
    for (const o of ns.nestedArray) {
      if (o instanceof protobuf.Type) o.setup();
      if (o instanceof protobuf.Namespace || o instanceof protobuf.Type) visit(o);
    }
  };
  visit(shimRoot());
}

/** A grpc-js service definition for a service of the shim's files, e.g. containerd.task.v2.Task. */
export function serviceDefinition(name: string): grpc.ServiceDefinition {
  return definitionOf(shimRoot().lookupService(name), name);
}

/** Packs a message as an Any with containerd's bare type URL (e.g. containerd.events.TaskExit). */
export function pack(typeName: string, message: object): AnyMessage {
  const type = shimRoot().lookupType(typeName);
  return { type_url: typeName, value: Buffer.from(type.encode(type.fromObject(message)).finish()) };
}

/** Unpacks an Any of one expected type (the type URL may carry a host prefix). */
export function unpack<T>(any: AnyMessage, typeName: string): T {
  const name = any.type_url.slice(any.type_url.lastIndexOf('/') + 1);
  if (name !== typeName) throw invalidArgument(`expected ${typeName}, got ${JSON.stringify(any.type_url)}`);
  const type = shimRoot().lookupType(typeName);
  return type.toObject(type.decode(any.value), toObjectOptions) as T;
}

/** Decodes the protobuf encoding of a whole google.protobuf.Any. */
export function decodeAny(bytes: Uint8Array): AnyMessage {
  const type = shimRoot().lookupType('google.protobuf.Any');
  return type.toObject(type.decode(bytes), { bytes: Buffer, defaults: true }) as AnyMessage;
}
