import { type ErrorCode, errorPhrases } from '../core/errors.ts';

/**
 * How berth reports failures: one line `berth: <message>` on stderr and exit status 1.
 * BerthErrors lose containerd's ": not found"-style suffix on the way in (transport/grpc/status.ts);
 * it is put back here, because "content digest sha256:…: not found" is the clear message.
 */

// Recognised by shape, so that reporting an error never loads the gRPC modules.
interface CodedError extends Error {
  code: string;
  cause?: unknown;
}

const isCoded = (err: unknown): err is CodedError => err instanceof Error && err.name === 'BerthError' && typeof (err as CodedError).code === 'string';

/** Ends the command with this exit status; whatever went wrong has been reported already. */
export class ExitError extends Error {
  constructor(readonly exitCode: number) {
    super(`exit status ${exitCode}`);
  }
}

/** The one-line message for an error. */
export function describeError(err: unknown, opts: { address?: string; timeout?: number } = {}): string {
  const { address, timeout } = opts;
  if (!(err instanceof Error)) return String(err);
  if (!isCoded(err)) return err.message;
  const message = err.message;
  if (err.code === 'Unavailable' && /No connection established|ECONNREFUSED|ENOENT|EACCES|connect/.test(message)) {
    const reason = /(ENOENT|ECONNREFUSED|EACCES|EPERM)/.exec(message)?.[1];
    const why =
      reason === 'ENOENT'
        ? 'no such socket'
        : reason === 'ECONNREFUSED'
          ? 'connection refused'
          : reason === 'EACCES' || reason === 'EPERM'
            ? 'permission denied'
            : message;
    return `cannot connect to berthd at ${address ?? 'its socket'}: ${why} (is berthd running? set --address or BERTH_ADDRESS)`;
  }
  // grpc-js's own words here are its internal phases; --debug shows them
  if (err.code === 'DeadlineExceeded') return `timed out${timeout ? ` after ${timeout}ms` : ''} waiting for berthd (raise --timeout)`;
  // Unavailable keeps the transport's own words (the connection case above rewrote the common one)
  const phrase = err.code === 'Unavailable' ? undefined : errorPhrases[err.code as ErrorCode]?.phrase;
  return phrase && !message.toLowerCase().includes(phrase) ? `${message}: ${phrase}` : message;
}

/**
 * The exit status a command that failed with `err` ends with: an ExitError's own, else 1 once
 * the failure is reported on stderr (with --debug's details).
 */
export function exitStatusOf(err: unknown, opts: { address?: string; timeout?: number; debug?: boolean }): number {
  if (err instanceof ExitError) return err.exitCode;
  process.stderr.write(`berth: ${describeError(err, opts)}\n`);
  if (opts.debug) process.stderr.write(debugDetails(err));
  return 1;
}

/** The detail --debug adds: the stack, the error class and the gRPC status behind it. */
export function debugDetails(err: unknown): string {
  if (!(err instanceof Error)) return '';
  const lines = [err.stack ?? String(err)];
  if (isCoded(err)) lines.push(`code: ${err.code}`);
  const cause = err.cause as { code?: unknown; details?: unknown; metadata?: { getMap?: () => unknown } } | undefined;
  if (cause && typeof cause === 'object') {
    if (cause.code !== undefined) lines.push(`grpc status: ${String(cause.code)}`);
    if (cause.details !== undefined) lines.push(`grpc details: ${String(cause.details)}`);
    const md = cause.metadata?.getMap?.();
    if (md && Object.keys(md).length > 0) lines.push(`grpc metadata: ${JSON.stringify(md)}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Runs fn for each target (rm NAME...), printing each target that succeeded on stdout and each
 * failure on stderr, and goes on after a failure; fails with status 1 if any failed.
 */
export async function forEachTarget(
  targets: readonly string[],
  fn: (target: string) => Promise<void>,
  opts: { address?: string; timeout?: number; debug?: boolean } = {},
): Promise<void> {
  let failed = false;
  for (const target of targets) {
    try {
      await fn(target);
      process.stdout.write(`${target}\n`);
    } catch (err) {
      failed = true;
      // the daemon's messages name the object ("content digest sha256:…: not found")
      process.stderr.write(`berth: ${describeError(err, opts)}\n`);
      if (opts.debug) process.stderr.write(debugDetails(err));
    }
  }
  if (failed) throw new ExitError(1);
}
