// grpc-js over @grpc/proto-loader: the services read from the .proto files by a second, independent
// loader, so tests can check berth's own codec (api/codec.ts, the build's descriptors) against it.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoDir } from '../../api/compile.ts';
import { loadOptions } from '../../api/load-options.ts';

const definitions = new Map<string, grpc.GrpcObject>();

/** Loads the .proto files of one folder under api/proto/ (e.g. 'containerd/services/content/v1') into a gRPC object tree. */
export function loadProtoDir(relDir: string): grpc.GrpcObject {
  let def = definitions.get(relDir);
  if (!def) {
    const files = readdirSync(join(protoDir, relDir))
      .filter((f) => f.endsWith('.proto'))
      .map((f) => join(relDir, f));
    def = grpc.loadPackageDefinition(loadSync(files, { ...loadOptions, includeDirs: [protoDir] }));
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
