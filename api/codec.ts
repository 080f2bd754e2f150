import { createRequire } from 'node:module';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { codegenFile, descriptorDir, descriptorFile, readDescriptor, typeIndexFile } from './descriptor-files.ts';
import { loadOptions } from './load-options.ts';

export { codegenFile, descriptorFile, maxMessageSize, typeIndexFile } from './descriptor-files.ts';

/** A function protobufjs generates for a message type (encode, decode, verify, fromObject, toObject), or a factory of one. */
type Generated = (...args: unknown[]) => unknown;
type Factories = Record<string, Record<'encode' | 'decode' | 'verify' | 'fromObject' | 'toObject', Generated>>;

/** Makes the root's types take their generated functions from precompiled factories. */
function usePrecompiled(r: protobuf.Root, factories: Factories) {
  const wrappers = protobuf.wrappers as Record<string, { fromObject: Generated; toObject: Generated }>;
  const walk = (ns: protobuf.NamespaceBase) => {
    for (const child of ns.nestedArray) {
      if (child instanceof protobuf.Type) {
        const f = factories[child.fullName];
        if (f) {
          // as protobufjs's Type.prototype.setup, with the functions ready-made
          child.setup = function (this: protobuf.Type) {
            const types = this.fieldsArray.map((field) => field.resolve().resolvedType);
            const self = this as unknown as Record<string, Generated>;
            self.encode = f.encode(protobuf.Writer, types, protobuf.util) as Generated;
            self.decode = f.decode(protobuf.Reader, types, protobuf.util) as Generated;
            self.verify = f.verify(types, protobuf.util) as Generated;
            self.fromObject = f.fromObject(types, protobuf.util) as Generated;
            self.toObject = f.toObject(types, protobuf.util) as Generated;
            const wrapper = wrappers[this.fullName];
            if (wrapper) {
              const originalThis = Object.create(this) as Record<string, Generated>;
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
    r = protobuf.Root.fromJSON(JSON.parse(readDescriptor(descriptorFile(relDir))) as protobuf.INamespace);
    r.resolveAll();
    let factories: Factories | undefined;
    try {
      factories = createRequire(import.meta.url)(join(descriptorDir, codegenFile(relDir))) as Factories;
    } catch {
      // built without them: protobufjs generates the functions itself
    }
    if (factories) usePrecompiled(r, factories);
    dirRoots.set(relDir, r);
  }
  return r;
}

let typeDirs: Map<string, string> | undefined;

/** The folder whose descriptor codec() loads a message type from (the build's index names it). */
function typeDir(typeName: string): string | undefined {
  typeDirs ??= new Map(Object.entries(JSON.parse(readDescriptor(typeIndexFile)) as Record<string, string>));
  return typeDirs.get(typeName);
}

/**
 * The message type of a full name (e.g. 'containerd.events.TaskExit'), from the descriptor the
 * build's index names for it (the smallest that holds it: in practice, its own folder's);
 * undefined for a name no .proto under api/proto declares or imports.
 */
export function findCodec(typeName: string): protobuf.Type | undefined {
  let type = types.get(typeName);
  if (!type) {
    const dir = typeDir(typeName);
    if (dir === undefined) return undefined;
    types.set(typeName, (type = dirRoot(dir).lookupType(typeName)));
  }
  return type;
}

// Events and runtime options pack an Any per message: a root's lookup walks its namespaces every time.
const types = new Map<string, protobuf.Type>();

/** The message type of a full name (see findCodec); throws when there is none. */
export function codec(typeName: string): protobuf.Type {
  const type = findCodec(typeName);
  if (!type) throw new Error(`no message type ${typeName} in api/proto`);
  return type;
}

const serializer = (type: protobuf.Type) => (value: object) => {
  if (Array.isArray(value)) throw new Error(`Failed to serialize message: expected object with ${type.name} structure, got array instead`);
  return Buffer.from(type.encode(type.fromObject(value)).finish());
};
const deserializer = (type: protobuf.Type) => (bytes: Buffer) => type.toObject(type.decode(bytes), loadOptions);

/**
 * A grpc-js service definition built straight from a protobufjs service, with the message
 * objects of api/load-options.ts, without proto-loader's descriptor objects.
 */
function serviceDefinition(service: protobuf.Service, name: string): grpc.ServiceDefinition {
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
