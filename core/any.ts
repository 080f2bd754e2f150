import { protoRoot } from '../api/codec.ts';
import { loadOptions } from '../api/load-options.ts';
import { invalidArgument } from './errors.ts';

/** google.protobuf.Any as the loader decodes it. */
export interface AnyMessage {
  type_url: string;
  value: Buffer | Uint8Array;
}

// OCI runtime-spec types travel as JSON under these type URLs (containerd's typeurl registry).
const jsonTypes = new Set([
  'types.containerd.io/opencontainers/runtime-spec/1/Spec',
  'types.containerd.io/opencontainers/runtime-spec/1/Process',
  'types.containerd.io/opencontainers/runtime-spec/1/LinuxResources',
  'types.containerd.io/opencontainers/runtime-spec/1/WindowsResources',
]);

/**
 * Packs a message into an Any. Like Go's typeurl, the type URL is the bare full message name
 * (no type.googleapis.com/ prefix), which is what containerd clients expect.
 */
export function packAny(typeName: string, message: object): AnyMessage {
  if (jsonTypes.has(typeName)) return { type_url: typeName, value: Buffer.from(JSON.stringify(message)) };
  const type = protoRoot().lookupType(typeName);
  return { type_url: typeName, value: Buffer.from(type.encode(type.fromObject(message)).finish()) };
}

/** Decodes an Any whose type berth knows; the type URL may carry a host prefix. */
export function unpackAny<T = Record<string, unknown>>(any: AnyMessage): { typeName: string; message: T } {
  const typeName = jsonTypes.has(any.type_url) ? any.type_url : any.type_url.slice(any.type_url.lastIndexOf('/') + 1);
  if (jsonTypes.has(typeName)) return { typeName, message: JSON.parse(Buffer.from(any.value).toString('utf8')) as T };
  let type;
  try {
    type = protoRoot().lookupType(typeName);
  } catch {
    throw invalidArgument(`unknown type ${JSON.stringify(any.type_url)}`);
  }
  const message = type.toObject(type.decode(any.value), { ...loadOptions, longs: Number }) as T;
  return { typeName, message };
}
