/**
 * The closed set of error classes berth uses everywhere. Each maps to exactly one gRPC status
 * code and back (transport/grpc/status.ts), the way containerd's errdefs do.
 */
export type ErrorCode =
  | 'InvalidArgument'
  | 'NotFound'
  | 'AlreadyExists'
  | 'FailedPrecondition'
  | 'Unavailable'
  | 'Unimplemented'
  | 'OutOfRange'
  | 'DataLoss'
  | 'ResourceExhausted'
  | 'PermissionDenied'
  | 'Unauthenticated'
  | 'Aborted'
  | 'Canceled'
  | 'DeadlineExceeded'
  | 'Internal'
  | 'Unknown';

/**
 * The words for an error class, as a message ends with them ("...: not found"). `wire` marks the
 * classes containerd's errdefs append to the message on the wire: clients that compare messages
 * with containerd's expect that suffix, and the client side strips it again.
 */
export const errorPhrases: Partial<Record<ErrorCode, { phrase: string; wire: boolean }>> = {
  InvalidArgument: { phrase: 'invalid argument', wire: true },
  NotFound: { phrase: 'not found', wire: true },
  AlreadyExists: { phrase: 'already exists', wire: true },
  FailedPrecondition: { phrase: 'failed precondition', wire: true },
  Unavailable: { phrase: 'unavailable', wire: true },
  Unimplemented: { phrase: 'not implemented', wire: true },
  OutOfRange: { phrase: 'out of range', wire: false },
  DataLoss: { phrase: 'data loss', wire: false },
  PermissionDenied: { phrase: 'permission denied', wire: false },
  ResourceExhausted: { phrase: 'resource exhausted', wire: false },
  Aborted: { phrase: 'aborted', wire: false },
};

export class BerthError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BerthError';
    this.code = code;
  }
}

export const invalidArgument = (m: string) => new BerthError('InvalidArgument', m);
export const notFound = (m: string) => new BerthError('NotFound', m);
export const alreadyExists = (m: string) => new BerthError('AlreadyExists', m);
export const failedPrecondition = (m: string) => new BerthError('FailedPrecondition', m);
export const unavailable = (m: string) => new BerthError('Unavailable', m);
export const unimplemented = (m: string) => new BerthError('Unimplemented', m);
export const outOfRange = (m: string) => new BerthError('OutOfRange', m);

export function isCode(err: unknown, code: ErrorCode): boolean {
  return err instanceof BerthError && err.code === code;
}

/** True for a NotFound error; read by shape, so it also holds for one that crossed a process boundary. */
export const isNotFound = (err: unknown): boolean => (err as { code?: unknown }).code === 'NotFound';

/** Runs fn; an Error that is not a BerthError (spec building, a user lookup) is the caller's bad input: InvalidArgument. */
export function asInvalidArgument<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof BerthError) throw err;
    throw invalidArgument((err as Error).message);
  }
}
