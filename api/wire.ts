import type * as grpc from '@grpc/grpc-js';
import { descriptorFile, readDescriptor } from './descriptor-files.ts';

/**
 * Protocol Buffers messages encoded and decoded without protobufjs, for the few calls of
 * `berth run` (loading protobufjs and building a descriptor's codecs costs every run ~15 ms
 * before its call goes out). The message types come from the build's JSON descriptors, the same
 * files api/codec.ts gives protobufjs, so they follow the .proto files. The bytes are those
 * codec.ts writes for the same object, and decoded messages are the objects it makes
 * (load-options.ts: keepCase, longs and enums as Number and String, bytes as Buffer, defaults,
 * arrays): api/wire.test.ts compares the two on random messages of every type in api/proto.
 *
 * What api/proto uses is supported: the scalars in Scalar, enums, messages, repeated fields
 * (numbers packed), maps. A type with anything else (other scalars, oneofs, field options) is
 * refused when it is first used rather than coded untested.
 */

type Scalar = 'string' | 'bytes' | 'bool' | 'double' | 'int32' | 'uint32' | 'int64' | 'uint64';

/** The wire type each scalar is written with (0 varint, 1 64-bit, 2 length-delimited, 5 32-bit). */
const wireTypes: Record<Scalar, number> = {
  string: 2,
  bytes: 2,
  bool: 0,
  double: 1,
  int32: 0,
  uint32: 0,
  int64: 0,
  uint64: 0,
};

/** Scalars api/proto does not use (yet): a type with one is refused rather than coded untested. */
const otherScalars = new Set(['float', 'sint32', 'sint64', 'fixed32', 'fixed64', 'sfixed32', 'sfixed64']);

interface EnumType {
  kind: 'enum';
  byName: Map<string, number>;
  byNumber: Map<number, string>;
  /** the first value declared: a field's default */
  first: string;
}

interface Field {
  name: string;
  id: number;
  /** a scalar's name, or the message or enum type it names (resolved on first use) */
  type: Scalar | MessageType | EnumType;
  repeated: boolean;
  /** map<key, type> */
  key?: Scalar;
}

export interface MessageType {
  kind: 'message';
  fullName: string;
  /** by field number, in number order (the order protobufjs writes them in) */
  fields: Field[];
  byId: Map<number, Field>;
}

interface DescriptorNode {
  nested?: Record<string, DescriptorNode>;
  fields?: Record<string, { type: string; id: number; rule?: string; keyType?: string; options?: Record<string, unknown> }>;
  values?: Record<string, number>;
  oneofs?: unknown;
  methods?: Record<string, { requestType: string; responseType: string; requestStream?: boolean; responseStream?: boolean }>;
}

const isScalar = (t: string): t is Scalar => Object.hasOwn(wireTypes, t);

/** The types of one descriptor file (a folder of api/proto), by full name. */
class Descriptor {
  private readonly nodes = new Map<string, DescriptorNode>();
  private readonly types = new Map<string, MessageType | EnumType>();

  constructor(root: DescriptorNode) {
    const walk = (node: DescriptorNode, prefix: string) => {
      for (const [name, child] of Object.entries(node.nested ?? {})) {
        const full = prefix ? `${prefix}.${name}` : name;
        this.nodes.set(full, child);
        walk(child, full);
      }
    };
    walk(root, '');
  }

  /** A name as written in the .proto, seen from the scope it is written in (protobufjs's lookup: innermost scope first). */
  private resolve(name: string, scope: string): string {
    if (name.startsWith('.')) return name.slice(1);
    const parts = scope.split('.');
    for (let i = parts.length; i >= 0; i--) {
      const full = [...parts.slice(0, i), name].join('.');
      const node = this.nodes.get(full);
      if (node && (node.fields || node.values)) return full;
    }
    throw new Error(`api/wire.ts: type ${name} not found from ${scope}`);
  }

  type(fullName: string): MessageType | EnumType {
    let type = this.types.get(fullName);
    if (type) return type;
    const node = this.nodes.get(fullName);
    if (node?.values) {
      const entries = Object.entries(node.values);
      type = { kind: 'enum', byName: new Map(entries), byNumber: new Map(entries.map(([k, v]) => [v, k])), first: entries[0]![0] };
    } else if (node?.fields) {
      if (node.oneofs) throw new Error(`api/wire.ts: ${fullName} has oneofs, which it does not code`);
      const message: MessageType = { kind: 'message', fullName, fields: [], byId: new Map() };
      // set before the fields resolve: a message may contain itself
      this.types.set(fullName, message);
      for (const [name, f] of Object.entries(node.fields)) {
        if (f.options && Object.keys(f.options).some((o) => o !== 'packed' && o !== 'deprecated'))
          throw new Error(`api/wire.ts: ${fullName}.${name} has options it does not code`);
        if (f.options?.packed === false) throw new Error(`api/wire.ts: ${fullName}.${name} is not packed`);
        if (otherScalars.has(f.type) || otherScalars.has(f.keyType ?? ''))
          throw new Error(`api/wire.ts: ${fullName}.${name} is a ${f.type}, which it does not code`);
        if (f.keyType !== undefined && !isScalar(f.keyType)) throw new Error(`api/wire.ts: ${fullName}.${name} has a map key it does not code`);
        const field: Field = {
          name,
          id: f.id,
          type: isScalar(f.type) ? f.type : this.type(this.resolve(f.type, fullName)),
          repeated: f.rule === 'repeated',
          key: f.keyType as Scalar | undefined,
        };
        message.fields.push(field);
        message.byId.set(f.id, field);
      }
      message.fields.sort((a, b) => a.id - b.id);
      return message;
    } else throw new Error(`api/wire.ts: no type ${fullName}`);
    this.types.set(fullName, type);
    return type;
  }

  message(fullName: string): MessageType {
    const type = this.type(fullName);
    if (type.kind !== 'message') throw new Error(`api/wire.ts: ${fullName} is an enum`);
    return type;
  }

  /** A method's request and response types, and which of them stream. */
  method(serviceName: string, method: string): { request: MessageType; response: MessageType; requestStream: boolean; responseStream: boolean } {
    const m = this.nodes.get(serviceName)?.methods?.[method];
    if (!m) throw new Error(`api/wire.ts: no method ${method} in ${serviceName}`);
    return {
      request: this.message(this.resolve(m.requestType, serviceName)),
      response: this.message(this.resolve(m.responseType, serviceName)),
      requestStream: Boolean(m.requestStream),
      responseStream: Boolean(m.responseStream),
    };
  }
}

const descriptors = new Map<string, Descriptor>();

/** The types of a folder of api/proto (e.g. 'berth/run/v1'), from the build's descriptor. */
export function descriptorOf(relDir: string): Descriptor {
  let d = descriptors.get(relDir);
  if (!d) descriptors.set(relDir, (d = new Descriptor(JSON.parse(readDescriptor(descriptorFile(relDir))) as DescriptorNode)));
  return d;
}

// ---- encoding

/** Bytes being written: chunks, joined once at the end. */
class Writer {
  readonly chunks: Buffer[] = [];
  length = 0;

  push(b: Buffer) {
    this.chunks.push(b);
    this.length += b.length;
  }

  /** A non-negative safe integer as a varint (tags, lengths: without BigInt, which is slow). */
  uint(n: number) {
    const bytes: number[] = [];
    while (n >= 0x80) {
      bytes.push((n % 0x80) | 0x80);
      n = Math.floor(n / 0x80);
    }
    bytes.push(n);
    this.push(Buffer.from(bytes));
  }

  varint(n: bigint) {
    if (n >= 0n && n <= 0xffffffffn) return this.uint(Number(n));
    const bytes: number[] = [];
    let v = BigInt.asUintN(64, n);
    while (v >= 0x80n) {
      bytes.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    bytes.push(Number(v));
    this.push(Buffer.from(bytes));
  }

  tag(id: number, wireType: number) {
    this.uint(id * 8 + wireType);
  }

  finish(): Buffer {
    return Buffer.concat(this.chunks, this.length);
  }
}

const int = (v: unknown): bigint => (typeof v === 'bigint' ? v : BigInt(Math.trunc(Number(v))));

function writeScalar(w: Writer, type: Scalar, v: unknown) {
  switch (type) {
    case 'string': {
      const b = Buffer.from(String(v), 'utf8');
      w.uint(b.length);
      w.push(b);
      return;
    }
    case 'bytes': {
      const b = typeof v === 'string' ? Buffer.from(v, 'base64') : Buffer.from(v as Uint8Array);
      w.uint(b.length);
      w.push(b);
      return;
    }
    case 'bool':
      return w.uint(v ? 1 : 0);
    case 'double': {
      const b = Buffer.alloc(8);
      b.writeDoubleLE(Number(v));
      return w.push(b);
    }
    case 'int32':
      return w.varint(BigInt(Number(v) | 0));
    case 'uint32':
      return w.uint(Number(v) >>> 0);
    case 'int64':
    case 'uint64':
      return w.varint(int(v));
  }
}

const enumNumber = (type: EnumType, v: unknown): number => (typeof v === 'number' ? v : (type.byName.get(String(v)) ?? 0));

/** One value of a field (not a whole repeated field or map), tag included. */
function writeValue(w: Writer, id: number, type: Field['type'], v: unknown) {
  if (typeof type === 'string') {
    w.tag(id, wireTypes[type]);
    writeScalar(w, type, v);
  } else if (type.kind === 'enum') {
    w.tag(id, 0);
    w.varint(BigInt(enumNumber(type, v)));
  } else {
    const body = encodeMessage(type, v as Record<string, unknown>);
    w.tag(id, 2);
    w.uint(body.length);
    w.push(body);
  }
}

/**
 * A message's bytes, as protobufjs writes `type.encode(type.fromObject(value))`: fields in
 * number order, each one the object has (not null or undefined) written even when it holds the
 * default, repeated numbers packed, map entries as written.
 */
export function encodeMessage(type: MessageType, value: Record<string, unknown>): Buffer {
  const w = new Writer();
  for (const f of type.fields) {
    const v = value[f.name];
    if (v === undefined || v === null) continue;
    if (f.key !== undefined) {
      for (const [k, item] of Object.entries(v as Record<string, unknown>)) {
        const entry = new Writer();
        writeValue(entry, 1, f.key, k);
        writeValue(entry, 2, f.type, item);
        const body = entry.finish();
        w.tag(f.id, 2);
        w.uint(body.length);
        w.push(body);
      }
    } else if (f.repeated) {
      const items = v as unknown[];
      if (items.length === 0) continue;
      const packed = f.type !== 'string' && f.type !== 'bytes' && (typeof f.type === 'string' || f.type.kind === 'enum');
      if (packed) {
        const body = new Writer();
        for (const item of items) {
          if (typeof f.type === 'string') writeScalar(body, f.type, item);
          else body.varint(BigInt(enumNumber(f.type as EnumType, item)));
        }
        w.tag(f.id, 2);
        w.uint(body.length);
        w.push(body.finish());
      } else for (const item of items) writeValue(w, f.id, f.type, item);
    } else writeValue(w, f.id, f.type, v);
  }
  return w.finish();
}

// ---- decoding

class Reader {
  pos = 0;
  readonly buf: Buffer;

  constructor(buf: Buffer) {
    this.buf = buf;
  }

  /** A varint that fits a safe integer (tags, lengths), without BigInt. */
  uint(): number {
    let result = 0;
    for (let scale = 1; scale < 2 ** 49; scale *= 0x80) {
      if (this.pos >= this.buf.length) throw new Error('api/wire.ts: message truncated');
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * scale;
      if (b < 0x80) return result;
    }
    throw new Error('api/wire.ts: length or tag too large');
  }

  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.buf.length) throw new Error('api/wire.ts: message truncated');
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return BigInt.asUintN(64, result);
      shift += 7n;
      if (shift > 63n) throw new Error('api/wire.ts: varint too long');
    }
  }

  bytes(n: number): Buffer {
    if (this.pos + n > this.buf.length) throw new Error('api/wire.ts: message truncated');
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  delimited(): Buffer {
    return this.bytes(this.uint());
  }

  skip(wireType: number) {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.bytes(8);
    else if (wireType === 2) this.delimited();
    else if (wireType === 5) this.bytes(4);
    else throw new Error(`api/wire.ts: wire type ${wireType} not supported`);
  }
}

function readScalar(r: Reader, type: Scalar): unknown {
  switch (type) {
    case 'string':
      return r.delimited().toString('utf8');
    case 'bytes':
      return Buffer.from(r.delimited());
    case 'bool':
      return r.varint() !== 0n;
    case 'double':
      return r.bytes(8).readDoubleLE(0);
    case 'int32':
      return Number(BigInt.asIntN(32, r.varint()));
    case 'uint32':
      return Number(BigInt.asUintN(32, r.varint()));
    case 'int64':
      return Number(BigInt.asIntN(64, r.varint()));
    case 'uint64':
      return Number(r.varint());
  }
}

function defaultOf(f: Field): unknown {
  if (f.key !== undefined) return {};
  if (f.repeated) return [];
  if (typeof f.type !== 'string') return f.type.kind === 'enum' ? f.type.first : null;
  if (f.type === 'string') return '';
  if (f.type === 'bytes') return Buffer.alloc(0);
  if (f.type === 'bool') return false;
  return 0;
}

function readValue(r: Reader, type: Field['type']): unknown {
  if (typeof type === 'string') return readScalar(r, type);
  if (type.kind === 'enum') {
    const n = Number(BigInt.asIntN(32, r.varint()));
    return type.byNumber.get(n) ?? n;
  }
  return decodeMessage(type, r.delimited());
}

/** A message as api/codec.ts decodes it: every field present, defaults where the bytes have none. */
export function decodeMessage(type: MessageType, bytes: Buffer): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of type.fields) out[f.name] = defaultOf(f);
  const r = new Reader(bytes);
  while (r.pos < bytes.length) {
    const tag = r.uint();
    const wireType = tag & 7;
    const f = type.byId.get(tag >>> 3);
    if (!f) {
      r.skip(wireType);
      continue;
    }
    if (f.key !== undefined) {
      const entry = new Reader(r.delimited());
      let k: unknown = defaultOf({ ...f, key: undefined, repeated: false, type: f.key });
      let v: unknown = defaultOf({ ...f, key: undefined, repeated: false });
      while (entry.pos < entry.buf.length) {
        const t = entry.uint();
        if (t >>> 3 === 1) k = readScalar(entry, f.key);
        else if (t >>> 3 === 2) v = readValue(entry, f.type);
        else entry.skip(t & 7);
      }
      (out[f.name] as Record<string, unknown>)[String(k)] = v;
    } else if (f.repeated) {
      const list = out[f.name] as unknown[];
      if (wireType === 2 && (typeof f.type === 'string' ? f.type !== 'string' && f.type !== 'bytes' : f.type.kind === 'enum')) {
        const packed = new Reader(r.delimited());
        while (packed.pos < packed.buf.length) list.push(readValue(packed, f.type));
      } else list.push(readValue(r, f.type));
    } else out[f.name] = readValue(r, f.type);
  }
  return out;
}

// ---- methods

/**
 * A method's path and codecs, coded by this module, in the shape a client takes them (grpc-js's
 * MethodDefinition, as api/codec.ts makes it from protobufjs).
 */
export function wireMethod(service: { dir: string; name: string }, method: string): grpc.MethodDefinition<object, object> {
  const d = descriptorOf(service.dir);
  const { request, response, requestStream, responseStream } = d.method(service.name, method);
  const serialize = (type: MessageType) => (value: object) => encodeMessage(type, value as Record<string, unknown>);
  const deserialize = (type: MessageType) => (bytes: Buffer) => decodeMessage(type, bytes);
  return {
    path: `/${service.name}/${method}`,
    requestStream,
    responseStream,
    requestSerialize: serialize(request),
    requestDeserialize: deserialize(request),
    responseSerialize: serialize(response),
    responseDeserialize: deserialize(response),
    originalName: method.charAt(0).toLowerCase() + method.slice(1),
  };
}
