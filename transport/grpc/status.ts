import type { ServiceError } from '@grpc/grpc-js';
import { BerthError, type ErrorCode, errorPhrases } from '../../core/errors.ts';

// gRPC status codes (fixed by the gRPC spec). Spelled out rather than imported so that processes
// that only need BerthError (the unpack child) do not load grpc-js.
export const GrpcStatus = {
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type GrpcStatus = (typeof GrpcStatus)[keyof typeof GrpcStatus];

const grpcCodes: Record<ErrorCode, GrpcStatus> = {
  InvalidArgument: GrpcStatus.INVALID_ARGUMENT,
  NotFound: GrpcStatus.NOT_FOUND,
  AlreadyExists: GrpcStatus.ALREADY_EXISTS,
  FailedPrecondition: GrpcStatus.FAILED_PRECONDITION,
  Unavailable: GrpcStatus.UNAVAILABLE,
  Unimplemented: GrpcStatus.UNIMPLEMENTED,
  OutOfRange: GrpcStatus.OUT_OF_RANGE,
  DataLoss: GrpcStatus.DATA_LOSS,
  ResourceExhausted: GrpcStatus.RESOURCE_EXHAUSTED,
  PermissionDenied: GrpcStatus.PERMISSION_DENIED,
  Unauthenticated: GrpcStatus.UNAUTHENTICATED,
  Aborted: GrpcStatus.ABORTED,
  Canceled: GrpcStatus.CANCELLED,
  DeadlineExceeded: GrpcStatus.DEADLINE_EXCEEDED,
  Internal: GrpcStatus.INTERNAL,
  Unknown: GrpcStatus.UNKNOWN,
};

/** The suffix containerd's errdefs put on the wire for a class, if it puts one. */
function wireSuffix(code: ErrorCode): string | undefined {
  const entry = errorPhrases[code];
  return entry?.wire ? entry.phrase : undefined;
}

/** Server side: turn anything thrown by a store into a gRPC status for the wire. */
export function toGrpc(err: unknown): { code: number; details: string } {
  if (err instanceof BerthError) {
    const suffix = wireSuffix(err.code);
    const details = suffix && !err.message.endsWith(suffix) ? `${err.message}: ${suffix}` : err.message;
    return { code: grpcCodes[err.code], details };
  }
  if (isServiceError(err)) return { code: err.code, details: err.details };
  const message = err instanceof Error ? err.message : String(err);
  return { code: GrpcStatus.UNKNOWN, details: message };
}

/** Client side: turn a gRPC error back into a BerthError with the class suffix removed. */
export function fromGrpc(err: unknown): BerthError {
  if (err instanceof BerthError) return err;
  if (!isServiceError(err)) return new BerthError('Unknown', err instanceof Error ? err.message : String(err));
  const code = (Object.keys(grpcCodes) as ErrorCode[]).find((c) => grpcCodes[c] === err.code) ?? 'Unknown';
  let message = err.details || err.message;
  const suffix = wireSuffix(code);
  if (suffix && message.endsWith(`: ${suffix}`)) message = message.slice(0, -(suffix.length + 2));
  return new BerthError(code, message, { cause: err });
}

function isServiceError(err: unknown): err is ServiceError {
  return typeof err === 'object' && err !== null && typeof (err as ServiceError).code === 'number' && 'details' in err;
}
