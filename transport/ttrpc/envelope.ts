// The ttrpc envelope (api/proto/ttrpc/request.proto): a Request frame's data is a ttrpc.Request,
// a Response frame's a ttrpc.Response whose status carries a gRPC code (0 = OK).
import { codec } from '../../api/codec.ts';
import type { KeyValue__Output } from '../../api/gen/ttrpc/KeyValue.ts';
import type { Request, Request__Output } from '../../api/gen/ttrpc/Request.ts';
import type { Response, Response__Output } from '../../api/gen/ttrpc/Response.ts';
import { loadOptions } from '../../api/load-options.ts';
import type { BerthError } from '../../core/errors.ts';
import { statusError } from '../grpc/frames.ts';
import { fromGrpc, toGrpc } from '../grpc/status.ts';

/** The metadata key containerd's namespaces package uses on ttrpc (the gRPC one is containerd-namespace). */
export const namespaceKey = 'containerd-namespace-ttrpc';

const encode = (name: string, value: object): Buffer => {
  const type = codec(name);
  return Buffer.from(type.encode(type.fromObject(value)).finish());
};
const decode = <T>(name: string, bytes: Uint8Array): T => {
  const type = codec(name);
  return type.toObject(type.decode(bytes), loadOptions) as T;
};

export const encodeRequest = (r: Request): Buffer => encode('ttrpc.Request', r);
/** Throws on bytes that are not a Request. */
export const decodeRequest = (b: Uint8Array): Request__Output => decode('ttrpc.Request', b);
export const encodeResponse = (r: Response): Buffer => encode('ttrpc.Response', r);
/** Throws on bytes that are not a Response. */
export const decodeResponse = (b: Uint8Array): Response__Output => decode('ttrpc.Response', b);

/** A failed call's status as a BerthError (as transport/grpc maps codes). */
export const errorOf = (code: number, message: string): BerthError => fromGrpc(statusError(code, message));

/** A ttrpc status with the code and message of anything a handler threw. */
export function statusOf(err: unknown): { code: number; message: string } {
  const { code, details } = toGrpc(err);
  return { code, message: details };
}

export const ok = { code: 0, message: '' };

/** Metadata pairs as a map of lower-cased keys to their values, in order. */
export function metadataMap(pairs: KeyValue__Output[]): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const { key, value } of pairs) {
    const k = key.toLowerCase();
    const values = map.get(k);
    if (values) values.push(value);
    else map.set(k, [value]);
  }
  return map;
}
