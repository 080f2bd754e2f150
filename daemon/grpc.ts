import type * as grpc from '@grpc/grpc-js';
import { toGrpc } from '../proto/errors.ts';
import { validateIdentifier } from '../proto/identifiers.ts';
import { toTimestamp } from '../proto/timestamp.ts';

/**
 * Helpers for the thin gRPC adapters: every service handler is written as a plain async
 * function and wrapped here, so errors reach clients through the one mapping in proto/errors.ts.
 */
type AnyCall = { metadata: grpc.Metadata };

export const namespaceHeader = 'containerd-namespace';
export const leaseHeader = 'containerd-lease';
export const defaultNamespace = 'default';

/** The namespace of a call (`default` when the header is absent), validated as an identifier. */
export function namespaceOf(call: AnyCall): string {
  const value = call.metadata.get(namespaceHeader)[0];
  const ns = value === undefined || value === '' ? defaultNamespace : String(value);
  return validateIdentifier(ns);
}

/** The lease a call works under, if any. */
export function leaseOf(call: AnyCall): string | undefined {
  const value = call.metadata.get(leaseHeader)[0];
  return value === undefined || value === '' ? undefined : String(value);
}

export function unary<Req, Res>(fn: (req: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    fn(call.request, call).then(
      (res) => callback(null, res),
      (err) => callback(toGrpc(err)),
    );
  };
}

/** A server stream fed by an async generator; it honours back-pressure and cancellation. */
export function serverStream<Req, Res>(
  fn: (req: Req, call: grpc.ServerWritableStream<Req, Res>) => AsyncIterable<Res>,
): grpc.handleServerStreamingCall<Req, Res> {
  return (call) => {
    (async () => {
      for await (const msg of fn(call.request, call)) {
        if (call.cancelled) return;
        if (!call.write(msg)) await new Promise((resolve) => call.once('drain', resolve));
      }
      call.end();
    })().catch((err) => failStream(call, err));
  };
}

/** Ends a server or bidi stream with the gRPC status for err (grpc-js sends it on 'error'). */
export function failStream(call: { cancelled: boolean; emit(event: 'error', err: unknown): boolean }, err: unknown) {
  if (!call.cancelled) call.emit('error', toGrpc(err));
}

export const timestamp = (ms: number | undefined) => (ms === undefined ? null : toTimestamp(ms));
export const empty = {};

/** Splits a list into messages of at most n items, as containerd's list streams do. */
export function* batches<T>(items: T[], n = 100): Generator<T[]> {
  for (let i = 0; i < items.length; i += n) yield items.slice(i, i + n);
}
