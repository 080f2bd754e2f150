import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { loadOptions } from './load-options.ts';

/** Where the .proto files are: api/proto beside this module in the source tree, ../../api/proto from dist/api/. */
export const protoDir = [fileURLToPath(new URL('./proto', import.meta.url)), fileURLToPath(new URL('../../api/proto', import.meta.url))].find((dir) =>
  existsSync(join(dir, 'containerd')),
) as string;

/**
 * The JSON descriptors `npm run build` writes beside the compiled module (dist/api/descriptors,
 * see api/generate.ts --descriptors): one protobufjs root per folder of .proto files, so that
 * short-lived clients need not parse .proto text. Absent when running from source.
 */
const descriptorDir = fileURLToPath(new URL('./descriptors/', import.meta.url));

// containerd's Go client uses 16 MiB for both directions; grpc-js defaults to 4 MiB receive.
export const maxMessageSize = 16 << 20;
export const channelOptions: grpc.ChannelOptions = {
  'grpc.max_receive_message_length': maxMessageSize,
  'grpc.max_send_message_length': maxMessageSize,
};

/**
 * grpc-js, loaded on first use: processes that make only unary calls (most CLI commands) go
 * without it (transport/grpc/channel.ts).
 */
export function grpcJs(): typeof import('@grpc/grpc-js') {
  return createRequire(import.meta.url)('@grpc/grpc-js') as typeof import('@grpc/grpc-js');
}

const definitions = new Map<string, grpc.GrpcObject>();

// proto-loader is needed only here (tests that load .proto files); berthd, the shim and clients use
// the build's descriptors
let protoLoader: typeof import('@grpc/proto-loader') | undefined;

/**
 * Loads the .proto files of one folder under api/proto/ (e.g. 'containerd/services/content/v1')
 * and returns the gRPC object tree. Each service is loaded on first use only, which keeps
 * short-lived processes such as the CLI quick to start.
 */
export function loadProtoDir(relDir: string): grpc.GrpcObject {
  let def = definitions.get(relDir);
  if (!def) {
    protoLoader ??= createRequire(import.meta.url)('@grpc/proto-loader') as typeof import('@grpc/proto-loader');
    const dir = join(protoDir, relDir);
    const files = readdirSync(dir)
      .filter((f) => f.endsWith('.proto'))
      .map((f) => join(relDir, f));
    const pkg = protoLoader.loadSync(files, { ...loadOptions, includeDirs: [protoDir] });
    def = grpcJs().loadPackageDefinition(pkg);
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

/** The definition of a containerd v1 service, e.g. containerdService('content', 'Content'), for a server to add. */
export function containerdService(name: string, service: string): { service: grpc.ServiceDefinition } {
  return { service: definitionOf(new ServiceRef(`containerd/services/${name}/v1`, `containerd.services.${name}.v1.${service}`)) };
}

/** The file name of a folder's JSON descriptor, e.g. containerd_services_tasks_v1.json. */
export const descriptorFile = (relDir: string) => `${relDir.split('/').join('_')}.json`;

/** A protobufjs root over the .proto files of one folder under proto/ and what they import. */
export function loadDirRoot(relDir: string): protobuf.Root {
  const r = new protobuf.Root();
  r.resolvePath = (_origin, target) => (target.startsWith('google/protobuf/') || target.startsWith('/') ? target : join(protoDir, target));
  const files = readdirSync(join(protoDir, relDir))
    .filter((f) => f.endsWith('.proto'))
    .map((f) => `${relDir}/${f}`);
  r.loadSync(files, { keepCase: true });
  r.resolveAll();
  return r;
}

/** The file name of a folder's precompiled protobufjs functions (see codegenModule). */
export const codegenFile = (relDir: string) => `${relDir.split('/').join('_')}.codegen.cjs`;

type Factories = Record<string, { encode: Function; decode: Function; verify: Function; fromObject: Function; toObject: Function }>;

/**
 * A CommonJS module with, for every message type of a JSON descriptor, the functions
 * protobufjs's Type.setup would generate at run time (encode, decode, verify, fromObject,
 * toObject), each wrapped in a factory taking the same scope. Loaded as a module, they are
 * compiled once and kept in V8's compile cache instead of being generated at every start.
 */
export function codegenModule(json: string): string {
  const full = protobuf;
  const r = full.Root.fromJSON(JSON.parse(json) as protobuf.INamespace);
  r.resolveAll();
  const entries: string[] = [];
  const fn = (params: string, gen: { toString(): string }) => `function (${params}) { return ${gen.toString()}; }`;
  const walk = (ns: protobuf.NamespaceBase) => {
    for (const child of ns.nestedArray) {
      if (child instanceof full.Type) {
        entries.push(
          `${JSON.stringify(child.fullName)}: {\n` +
            `  encode: ${fn('Writer, types, util', full.encoder(child))},\n` +
            `  decode: ${fn('Reader, types, util', full.decoder(child))},\n` +
            `  verify: ${fn('types, util', full.verifier(child))},\n` +
            `  fromObject: ${fn('types, util', full.converter.fromObject(child))},\n` +
            `  toObject: ${fn('types, util', full.converter.toObject(child))},\n}`,
        );
      }
      if (child instanceof full.Namespace || child instanceof full.Type) walk(child);
    }
  };
  walk(r);
  return `'use strict';\n// Generated by api/generate.ts --descriptors; do not edit.\nmodule.exports = {\n${entries.join(',\n')}\n};\n`;
}

/** Makes the root's types take their generated functions from precompiled factories. */
function usePrecompiled(r: protobuf.Root, factories: Factories) {
  const wrappers = protobuf.wrappers as Record<string, { fromObject: Function; toObject: Function }>;
  const walk = (ns: protobuf.NamespaceBase) => {
    for (const child of ns.nestedArray) {
      if (child instanceof protobuf.Type) {
        const f = factories[child.fullName];
        if (f) {
          // as protobufjs's Type.prototype.setup, with the functions ready-made
          child.setup = function (this: protobuf.Type) {
            const types = this.fieldsArray.map((field) => field.resolve().resolvedType);
            const self = this as unknown as Record<string, Function>;
            self.encode = f.encode(protobuf.Writer, types, protobuf.util);
            self.decode = f.decode(protobuf.Reader, types, protobuf.util);
            self.verify = f.verify(types, protobuf.util);
            self.fromObject = f.fromObject(types, protobuf.util);
            self.toObject = f.toObject(types, protobuf.util);
            const wrapper = wrappers[this.fullName];
            if (wrapper) {
              const originalThis = Object.create(this) as Record<string, Function>;
              originalThis.fromObject = self.fromObject!;
              self.fromObject = wrapper.fromObject.bind(originalThis);
              originalThis.toObject = self.toObject!;
              self.toObject = wrapper.toObject.bind(originalThis);
            }
            return this;
          };
        }
      }
      if (child instanceof protobuf.Namespace || child instanceof protobuf.Type) walk(child);
    }
  };
  walk(r);
}

const dirRoots = new Map<string, protobuf.Root>();

function dirRoot(relDir: string): protobuf.Root {
  let r = dirRoots.get(relDir);
  if (!r) {
    let json: string | undefined;
    try {
      json = readFileSync(join(descriptorDir, descriptorFile(relDir)), 'utf8');
    } catch {
      // not built: parse the .proto files
    }
    if (json !== undefined) {
      r = protobuf.Root.fromJSON(JSON.parse(json) as protobuf.INamespace);
      r.resolveAll();
      let factories: Factories | undefined;
      try {
        factories = createRequire(import.meta.url)(join(descriptorDir, codegenFile(relDir))) as Factories;
      } catch {
        // built without them: protobufjs generates the functions itself
      }
      if (factories) usePrecompiled(r, factories);
    } else {
      r = loadDirRoot(relDir);
    }
    dirRoots.set(relDir, r);
  }
  return r;
}

const serializer = (type: protobuf.Type) => (value: object) => {
  if (Array.isArray(value)) throw new Error(`Failed to serialize message: expected object with ${type.name} structure, got array instead`);
  return Buffer.from(type.encode(type.fromObject(value)).finish());
};
const deserializer = (type: protobuf.Type) => (bytes: Buffer) => type.toObject(type.decode(bytes), loadOptions);

/**
 * A grpc-js service definition built straight from a protobufjs service, with the same message
 * objects as loadProtoDir's (api/load-options.ts), without proto-loader's descriptor objects.
 */
export function serviceDefinition(service: protobuf.Service, name: string): grpc.ServiceDefinition {
  const def: Record<string, grpc.MethodDefinition<object, object>> = {};
  for (const method of service.methodsArray) {
    method.resolve();
    const req = method.resolvedRequestType!;
    const res = method.resolvedResponseType!;
    def[method.name] = {
      path: `/${name}/${method.name}`,
      requestStream: !!method.requestStream,
      responseStream: !!method.responseStream,
      requestSerialize: serializer(req),
      requestDeserialize: deserializer(req),
      responseSerialize: serializer(res),
      responseDeserialize: deserializer(res),
      originalName: method.name.charAt(0).toLowerCase() + method.name.slice(1),
    };
  }
  return def as grpc.ServiceDefinition;
}

/** A service named by its folder under api/proto/ and its full name, e.g. ('containerd/services/tasks/v1', 'containerd.services.tasks.v1.Tasks'). */
export class ServiceRef {
  readonly relDir: string;
  readonly name: string;
  constructor(relDir: string, name: string) {
    this.relDir = relDir;
    this.name = name;
  }
}

const definitionsByService = new Map<string, grpc.ServiceDefinition>();

/** A service's grpc-js definition (paths and codecs), built once from the build's descriptors. */
export function definitionOf(ref: ServiceRef): grpc.ServiceDefinition {
  const key = `${ref.relDir}:${ref.name}`;
  let def = definitionsByService.get(key);
  if (!def) {
    def = serviceDefinition(dirRoot(ref.relDir).lookupService(ref.name), ref.name);
    definitionsByService.set(key, def);
  }
  return def;
}

/** The path and codecs of one method of a service. */
export function methodDefinition(ref: ServiceRef, method: string): grpc.MethodDefinition<object, object> {
  const m = definitionOf(ref)[method];
  if (!m) throw new Error(`no method ${method} in ${ref.name}`);
  return m as grpc.MethodDefinition<object, object>;
}

const clientCtors = new Map<string, grpc.ServiceClientConstructor>();

/**
 * A client constructor for a service (e.g. 'containerd.services.tasks.v1.Tasks' in
 * 'containerd/services/tasks/v1'), built from protobufjs (from the build's JSON descriptors when
 * there are some) with {@link serviceDefinition}.
 */
export function serviceClient(relDir: string, name: string): grpc.ServiceClientConstructor {
  const key = `${relDir}:${name}`;
  let ctor = clientCtors.get(key);
  if (!ctor) {
    ctor = grpcJs().makeClientConstructor(definitionOf(new ServiceRef(relDir, name)), name);
    clientCtors.set(key, ctor);
  }
  return ctor;
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
