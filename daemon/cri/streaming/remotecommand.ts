import type { Readable, Writable } from 'node:stream';
import type { SpdySession, SpdyStream } from './session.ts';

/**
 * Kubernetes' remotecommand subprotocols over SPDY (the kubelet's streaming server; client-go's
 * tools/remotecommand): the client opens one stream per channel, named by its `streamType`
 * header; berth runs the command with them and reports how it ended on the error stream.
 */

/** Best first, as berth picks the first the client offers that it knows. */
export const remoteCommandProtocols = ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];

export interface StreamOptions {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

export interface TerminalSize {
  width: number;
  height: number;
}

/** What a command runs with: the client's streams (null where it asked for none). */
export interface RemoteIo {
  stdin: Readable | null;
  stdout: Writable | null;
  stderr: Writable | null;
  tty: boolean;
  /** calls fn with every terminal size the client sends (tty only) */
  onResize(fn: (size: TerminalSize) => void): void;
  /** the client's first terminal size, waited for at most `ms` (undefined: none came) */
  firstSize(ms: number): Promise<TerminalSize | undefined>;
}

/**
 * The terminal sizes a client sends on its resize stream (a JSON value each): every listener gets
 * each size, one that comes late the latest first. Clients send their size first thing, so a
 * command started after the first one can start at that size.
 */
export class TerminalSizes {
  private latest: TerminalSize | undefined;
  private ended = false;
  private readonly listeners: Array<(size: TerminalSize) => void> = [];
  private readonly waiters = new Set<(size: TerminalSize | undefined) => void>();

  /** Follows a resize stream (none: no sizes will come). */
  constructor(stream: Readable | undefined) {
    if (!stream) {
      this.ended = true;
      return;
    }
    readJsonValues(stream, (v) => {
      const size = terminalSize(v);
      if (!size) return;
      this.latest = size;
      for (const w of this.waiters) w(size);
      for (const fn of this.listeners) fn(size);
    });
    const end = () => {
      this.ended = true;
      for (const w of this.waiters) w(this.latest);
    };
    stream.once('end', end);
    stream.once('close', end);
  }

  onResize(fn: (size: TerminalSize) => void): void {
    this.listeners.push(fn);
    if (this.latest) fn(this.latest);
  }

  firstSize(ms: number): Promise<TerminalSize | undefined> {
    if (this.latest || this.ended) return Promise.resolve(this.latest);
    return new Promise((resolve) => {
      const done = (size: TerminalSize | undefined) => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve(size);
      };
      const timer = setTimeout(() => done(undefined), ms);
      this.waiters.add(done);
    });
  }
}

/**
 * Runs the command to its end: resolves with its exit code, or throws (the message goes to the
 * client). `signal` aborts when the client went away before that.
 */
export type CommandRunner = (io: RemoteIo, signal: AbortSignal) => Promise<number>;

/** A command that ended with a non-zero exit code (the error stream says so in the client's terms). */
export class ExitCodeError extends Error {
  constructor(
    readonly code: number,
    readonly command: string[],
  ) {
    super(`command terminated with non-zero exit code: error executing command [${command.join(' ')}], exit code ${code}`);
  }
}

const streamTypes = new Set(['error', 'stdin', 'stdout', 'stderr', 'resize']);

/** What the error stream carries for v4: a metav1.Status, as client-go's v4 error decoder reads it. */
export function statusJson(err: Error | undefined): string {
  if (!err) return JSON.stringify({ metadata: {}, status: 'Success' });
  if (err instanceof ExitCodeError) {
    return JSON.stringify({
      metadata: {},
      status: 'Failure',
      message: err.message,
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: String(err.code) }] },
    });
  }
  return JSON.stringify({ metadata: {}, status: 'Failure', message: err.message, reason: 'InternalError', code: 500 });
}

/**
 * Serves one remotecommand session: waits (at most streamTimeoutMs) for the streams the request
 * asked for, runs the command, then closes stdout and stderr, writes how it ended on the error
 * stream and ends the session. `command` names the command in the exit message.
 */
export async function serveRemoteCommand(
  session: SpdySession,
  protocol: string,
  opts: StreamOptions,
  command: string[],
  run: CommandRunner,
  streamTimeoutMs = 30_000,
): Promise<void> {
  const version = protocol.startsWith('v4.') ? 4 : protocol.startsWith('v3.') ? 3 : protocol.startsWith('v2.') ? 2 : 1;
  const expected = new Set(['error']);
  if (opts.stdin) expected.add('stdin');
  if (opts.stdout) expected.add('stdout');
  if (opts.stderr && !opts.tty) expected.add('stderr');
  if (opts.tty && version >= 3) expected.add('resize');

  const streams = new Map<string, SpdyStream>();
  const abort = new AbortController();
  session.once('close', () => abort.abort());
  let failure: Error | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for the client's streams (${[...expected].join(', ')})`)), streamTimeoutMs);
    const check = () => {
      if ([...expected].every((t) => streams.has(t))) {
        clearTimeout(timer);
        resolve();
      }
    };
    session.on('stream', (s: SpdyStream) => {
      const type = s.header('streamtype');
      if (!streamTypes.has(type) || streams.has(type)) {
        clearTimeout(timer);
        reject(new Error(`unexpected stream of type ${JSON.stringify(type)}`));
        return;
      }
      s.on('error', () => undefined);
      streams.set(type, s);
      check();
    });
    session.once('close', () => {
      clearTimeout(timer);
      reject(new Error('the client went away'));
    });
  });
  try {
    await ready;
  } catch (err) {
    session.goAway();
    throw err;
  }

  const sizes = new TerminalSizes(streams.get('resize'));
  // a stdin stream nobody asked for is read and dropped, so the client does not block on it
  if (!opts.stdin) streams.get('stdin')?.resume();
  const io: RemoteIo = {
    stdin: opts.stdin ? (streams.get('stdin') ?? null) : null,
    stdout: streams.get('stdout') ?? null,
    stderr: opts.tty ? null : (streams.get('stderr') ?? null),
    tty: opts.tty,
    onResize: (fn) => sizes.onResize(fn),
    firstSize: (ms) => sizes.firstSize(ms),
  };
  try {
    const code = await run(io, abort.signal);
    if (code !== 0) failure = new ExitCodeError(code, command);
  } catch (err) {
    failure = err as Error;
  }
  if (abort.signal.aborted) return;
  await Promise.all([io.stdout, streams.get('stderr')].map((s) => (s ? endStream(s) : undefined)));
  const errorStream = streams.get('error')!;
  if (version >= 4) errorStream.write(statusJson(failure));
  else if (failure) errorStream.write(failure.message);
  await endStream(errorStream);
  session.goAway();
}

function terminalSize(v: unknown): TerminalSize | undefined {
  const size = v as { Width?: unknown; Height?: unknown } | null;
  const ok = (n: unknown): n is number => Number.isInteger(n) && (n as number) >= 0 && (n as number) <= 0xffff;
  return size && ok(size.Width) && ok(size.Height) ? { width: size.Width, height: size.Height } : undefined;
}

/** Ends a stream's writable side and waits for the FIN to be queued (or the stream to go). */
function endStream(s: Writable): Promise<void> {
  return new Promise((resolve) => {
    if (s.writableFinished || s.destroyed) return resolve();
    s.once('finish', resolve);
    s.once('close', resolve);
    s.end();
  });
}

/**
 * Calls fn with each JSON value a stream carries one after another (client-go's resize stream:
 * one `{"Width":w,"Height":h}` per change, from a json.Encoder). A value over 4 KiB, or one that
 * does not parse, ends the reading.
 */
export function readJsonValues(stream: Readable, fn: (v: unknown) => void): void {
  let text = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    text += chunk;
    for (;;) {
      const end = valueEnd(text);
      if (end < 0) break;
      const piece = text.slice(0, end).trim();
      text = text.slice(end);
      if (piece === '') continue;
      try {
        fn(JSON.parse(piece));
      } catch {
        stream.destroy();
        return;
      }
    }
    if (text.length > 4096) stream.destroy();
  });
}

/** Where the first complete JSON object or array in text ends (-1: not yet). */
function valueEnd(text: string): number {
  let depth = 0;
  let inString = false;
  let started = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{' || c === '[') {
      depth++;
      started = true;
    } else if (c === '}' || c === ']') {
      depth--;
      if (started && depth === 0) return i + 1;
    } else if (!started && c && !/\s/.test(c)) return i + 1; // not an object: parsed (and refused) alone
  }
  return -1;
}
