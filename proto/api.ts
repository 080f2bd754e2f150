import { readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { loadOptions } from './load-options.ts';

/** Where the .proto files are: beside this module in the source tree, ../../proto from dist/. */
export const protoDir = [fileURLToPath(new URL('.', import.meta.url)), fileURLToPath(new URL('../../proto', import.meta.url))].find(
  (dir) => existsSync(join(dir, 'containerd')),
) as string;

// containerd's Go client uses 16 MiB for both directions; grpc-js defaults to 4 MiB receive.
export const maxMessageSize = 16 << 20;
export const channelOptions: grpc.ChannelOptions = {
  'grpc.max_receive_message_length': maxMessageSize,
  'grpc.max_send_message_length': maxMessageSize,
};

const definitions = new Map<string, grpc.GrpcObject>();

/**
 * Loads the .proto files of one folder under proto/ (e.g. 'containerd/services/content/v1')
 * and returns the gRPC object tree. Each service is loaded on first use only, which keeps
 * short-lived processes such as the CLI quick to start.
 */
export function loadProtoDir(relDir: string): grpc.GrpcObject {
  let def = definitions.get(relDir);
  if (!def) {
    const dir = join(protoDir, relDir);
    const files = readdirSync(dir).filter((f) => f.endsWith('.proto')).map((f) => join(relDir, f));
    const pkg = protoLoader.loadSync(files, { ...loadOptions, includeDirs: [protoDir] });
    def = grpc.loadPackageDefinition(pkg);
    definitions.set(relDir, def);
  }
  return def;
}

/** Looks up a dotted name (e.g. containerd.services.content.v1.Content) in a loaded tree. */
export function lookup<T>(tree: grpc.GrpcObject, name: string): T {
  let node: unknown = tree;
  for (const part of name.split('.')) node = (node as Record<string, unknown>)?.[part];
  if (!node) throw new Error(`proto symbol ${name} not found`);
  return node as T;
}

/** The service constructor for a containerd v1 service, e.g. service('content', 'Content'). */
export function containerdService(name: string, service: string): grpc.ServiceClientConstructor {
  return lookup(loadProtoDir(`containerd/services/${name}/v1`), `containerd.services.${name}.v1.${service}`);
}

let root: protobuf.Root | undefined;

/** A protobufjs root over every .proto of the project, for encoding google.protobuf.Any payloads. */
export function protoRoot(): protobuf.Root {
  if (root) return root;
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory() && entry.name !== 'gen') walk(join(dir, entry.name));
      else if (entry.name.endsWith('.proto')) files.push(join(dir, entry.name));
    }
  };
  walk(protoDir);
  const r = new protobuf.Root();
  const builtin = (target: string) => target.startsWith('google/protobuf/');
  r.resolvePath = (origin, target) => (builtin(target) ? target : target.startsWith('/') ? target : join(protoDir, target));
  r.loadSync(files, { keepCase: true });
  r.resolveAll();
  root = r;
  return r;
}

