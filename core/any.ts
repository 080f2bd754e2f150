import { codec, findCodec } from '../api/codec.ts';
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
export function packAny(typeName: string, message: object): { type_url: string; value: Buffer } {
  if (jsonTypes.has(typeName)) return { type_url: typeName, value: Buffer.from(JSON.stringify(message)) };
  const type = codec(typeName);
  return { type_url: typeName, value: Buffer.from(type.encode(type.fromObject(message)).finish()) };
}

/** The message name of a type URL: the URL itself for the JSON types, else what follows its last '/' (a host prefix). */
const typeNameOf = (url: string) => (jsonTypes.has(url) ? url : url.slice(url.lastIndexOf('/') + 1));

/** Decodes an Any whose type berth knows; the type URL may carry a host prefix. */
export function unpackAny<T = Record<string, unknown>>(any: AnyMessage): { typeName: string; message: T } {
  const typeName = typeNameOf(any.type_url);
  if (jsonTypes.has(typeName)) return { typeName, message: JSON.parse(Buffer.from(any.value).toString('utf8')) as T };
  const type = findCodec(typeName);
  if (!type) throw invalidArgument(`unknown type ${JSON.stringify(any.type_url)}`);
  const message = type.toObject(type.decode(any.value), { ...loadOptions, longs: Number }) as T;
  return { typeName, message };
}

/** Decodes an Any of one expected type (the type URL may carry a host prefix); another type is InvalidArgument. */
export function unpackAnyOf<T>(any: AnyMessage, typeName: string): T {
  if (typeNameOf(any.type_url) !== typeName) throw invalidArgument(`expected ${typeName}, got ${JSON.stringify(any.type_url)}`);
  return unpackAny<T>(any).message;
}

/** The protobuf encoding of a whole Any (empty for none), as a shim reads its runtime options. */
export function encodeAny(any: AnyMessage | null | undefined): Uint8Array {
  if (!any?.type_url) return new Uint8Array();
  const type = codec('google.protobuf.Any');
  return type.encode(type.create({ type_url: any.type_url, value: any.value })).finish();
}

/** Decodes the protobuf encoding of a whole Any (see encodeAny). */
export function decodeAny(bytes: Uint8Array): AnyMessage {
  const type = codec('google.protobuf.Any');
  return type.toObject(type.decode(bytes), { bytes: Buffer, defaults: true }) as AnyMessage;
}
