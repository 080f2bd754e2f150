import type * as grpc from '@grpc/grpc-js';
import { validateIdentifier } from '../core/identifiers.ts';

// The generic handler wrappers live in proto/server.ts (the shim uses them too); the daemon's
// own helpers (namespace and lease headers) are below.
export { drained, empty, failStream, serverStream, timestamp, unary } from '../transport/grpc/handlers.ts';

export type AnyCall = { metadata: grpc.Metadata };

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

/** Splits a list into messages of at most n items, as containerd's list streams do. */
export function* batches<T>(items: T[], n = 100): Generator<T[]> {
  for (let i = 0; i < items.length; i += n) yield items.slice(i, i + n);
}
