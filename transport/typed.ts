import type { MethodDefinition } from '@grpc/proto-loader';
import type { MethodKind, Service } from '../api/service.ts';
import type { ClientCall } from './grpc/channel.ts';

/** A namespace or lease for one call, other than the client's own. */
export interface CallScope {
  namespace?: string;
  lease?: string;
}

/**
 * What one call may set: its scope, no deadline (`deadline: false`, e.g. Tasks.Wait), a deadline
 * of its own in ms instead of the client's (`timeoutMs`, 0 = none), a signal that cancels it.
 */
export interface CallOptions extends CallScope {
  deadline?: false;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface StreamOptions extends CallOptions {
  /** called with the call once it is open, to cancel it from outside the loop */
  onCall?: (call: { cancel(): void }) => void;
}

/** A request as the caller writes it (the generated type, every field optional). */
type In<M> = M extends MethodDefinition<infer Req, infer _Res, infer _ReqOut, infer _ResOut> ? Req : never;
/** A response as decoded: the generated __Output type, defaults filled in. */
type Out<M> = M extends MethodDefinition<infer _Req, infer _Res, infer _ReqOut, infer ResOut> ? ResOut : never;

/** One method of a client: unary → a promise; response stream → an async generator; request stream → an open call. */
type ClientMethod<Kind extends MethodKind, M> = Kind extends 'unary'
  ? (request: In<M>, options?: CallOptions) => Promise<Out<M>>
  : Kind extends 'server'
    ? (request: In<M>, options?: StreamOptions) => AsyncGenerator<Out<M>>
    : (options?: CallOptions) => ClientCall<In<M>, Out<M>>;

/**
 * A client of a service of api/services.ts: each method is a property whose request and
 * response types follow from the generated XxxDefinition, e.g. `await c.tasks.Kill({ container_id, signal })`.
 */
export type Client<S> = S extends Service<infer D, infer _H, infer K> ? { readonly [M in keyof K & keyof D]: ClientMethod<K[M], D[M]> } : never;

/** The handlers a server adds for a service: its generated XxxHandlers. */
export type HandlersOf<S> = S extends Service<infer _D, infer H, infer _K> ? H : never;

/** Every message of a response stream (for streams of a bounded size). */
export async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const m of stream) all.push(m);
  return all;
}
