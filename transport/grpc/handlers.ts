import type * as grpc from '@grpc/grpc-js';
import { toTimestamp } from '../../api/timestamp.ts';
import { toGrpc } from './status.ts';

/**
 * Helpers for thin gRPC adapters, shared by berthd and the shim: every handler is written as a
 * plain async function and wrapped here, so errors reach clients through the one mapping in
 * proto/errors.ts.
 */
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
        if (call.cancelled || call.destroyed) return;
        if (!call.write(msg)) await drained(call);
      }
      call.end();
    })().catch((err) => failStream(call, err));
  };
}

/** Resolves once a stream call takes writes again, or is over (a cancelled call never drains). */
export function drained(call: { once(e: 'drain' | 'close', f: () => void): unknown; off(e: 'drain' | 'close', f: () => void): unknown }): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      call.off('drain', done);
      call.off('close', done);
      resolve();
    };
    call.once('drain', done);
    call.once('close', done);
  });
}

/** Ends a server or bidi stream with the gRPC status for err (grpc-js sends it on 'error'). */
export function failStream(call: { cancelled: boolean; emit(event: 'error', err: unknown): boolean }, err: unknown) {
  if (!call.cancelled) call.emit('error', toGrpc(err));
}

export const timestamp = (ms: number | undefined) => (ms === undefined ? null : toTimestamp(ms));
export const empty = {};
