import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, fstatSync, openSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { BerthError, type ErrorCode } from '../../core/errors.ts';
import type { ApplyMode } from './applier.ts';
import { parentInfo } from './parents.ts';
import type { UnpackArgs, UnpackFailure, UnpackResult } from './unpack-child.ts';

/**
 * The unpack children (unpack-child.ts) and one layer's run through one of them. A child applies
 * layers one after another; Node's start-up (~50 ms of CPU) and the compilation of the tar and
 * apply code are paid once per child, not once per layer. Children wait in a pool for a while
 * after their layer; a pull starts the ones it will need while it fetches the manifest and
 * config (reserveUnpackers). Idle children do not keep the daemon alive, exit when the daemon does
 * (their stdin closes), and are not kept once idle for a while. A child whose layer failed is
 * never used again: it reports and exits.
 */
/**
 * A blob still being written (a pull's download), which a layer can be applied from as it
 * arrives: the file is read through the daemon's descriptor, as far as `written`; the end is
 * known once the blob is complete (and verified). A failed download kills the apply.
 */
export interface GrowingBlob {
  /** the daemon's descriptor of the file (stays valid when the file is renamed) */
  readonly fd: number;
  readonly written: number;
  readonly state: 'writing' | 'complete' | 'failed';
  readonly failure: Error | undefined;
  /** onChange runs at every change; returns what stops it */
  watch(onChange: () => void): () => void;
}

export interface UnpackJob {
  root: string;
  mode: ApplyMode;
  compression: UnpackArgs['compression'];
  /** the (possibly compressed) layer bytes: a file, or one still being written */
  blob: string | GrowingBlob;
  /** overlay mode: the lowerdirs whose attributes missing parents copy (maybe still being written) */
  parents?: readonly string[] | Promise<readonly string[]>;
  /** told the child's pid (tests watch its memory) */
  onSpawn?: (pid: number) => void;
}

// A hostile archive must not grow the child without bound; it streams, so little is needed.
const childHeapMB = 256;
const maxOutput = 64 << 10;
const exitGraceMs = 10_000;
const idleMs = 15_000;
const maxIdle = 8;
// a child is retired after this many layers, whatever it may have accumulated
const maxJobs = 64;
// No honest child asks about more directories than a layer can name; the request is one line.
const maxParentsRequest = 64 << 20;

class Unpacker {
  readonly child: ChildProcess;
  readonly closed: Promise<[number | null, NodeJS.Signals | null]>;
  jobs = 0;
  stderr = '';
  private readonly lines: string[] = [];
  private partial = '';
  private wake: (() => void) | undefined;
  private done = false;

  constructor() {
    this.child = spawn(process.execPath, [`--max-old-space-size=${childHeapMB}`, helperEntry('unpack-child.js')], {
      stdio: ['pipe', 'pipe', 'pipe', 'pipe', 'pipe'],
    });
    this.closed = new Promise((resolve) => {
      this.child.once('error', () => resolve([null, null]));
      this.child.once('close', (code, signal) => resolve([code, signal]));
    });
    void this.closed.then(() => {
      this.done = true;
      this.notify();
    });
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      const parts = (this.partial + d).split('\n');
      this.partial = parts.pop()!.slice(-maxOutput);
      this.lines.push(...parts);
      this.notify();
    });
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-maxOutput)));
    // a child that stops reading (a refused entry) says why on stdout
    this.child.stdin!.on('error', () => undefined);
  }

  get alive(): boolean {
    return !this.done && this.child.exitCode === null && this.child.signalCode === null;
  }

  private notify() {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** The next line the child prints; undefined once it has exited. */
  async nextLine(): Promise<string | undefined> {
    for (;;) {
      if (this.lines.length > 0) return this.lines.shift();
      if (this.done) return undefined;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  /** The child counts for the event loop while it works, not while it waits. */
  hold(on: boolean) {
    for (const s of [this.child, ...this.child.stdio]) {
      const handle = s as { ref?: () => void; unref?: () => void } | null;
      if (on) handle?.ref?.();
      else handle?.unref?.();
    }
  }

  kill() {
    this.child.kill('SIGKILL');
  }
}

const idle: Array<{ unpacker: Unpacker; timer: NodeJS.Timeout }> = [];

function park(unpacker: Unpacker) {
  unpacker.hold(false);
  const entry = {
    unpacker,
    timer: setTimeout(() => {
      const at = idle.indexOf(entry);
      if (at >= 0) idle.splice(at, 1);
      unpacker.child.stdin!.end();
    }, idleMs),
  };
  entry.timer.unref();
  idle.push(entry);
}

/** Has n unpack children waiting (at most a few), for layers about to be applied side by side. */
export function reserveUnpackers(n: number) {
  while (idle.length < Math.min(n, maxIdle)) park(new Unpacker());
}

function take(): Unpacker {
  let unpacker: Unpacker | undefined;
  // the child parked last has applied a layer most recently: its code is compiled
  for (let entry = idle.pop(); entry && !unpacker; entry = idle.pop()) {
    clearTimeout(entry.timer);
    if (entry.unpacker.alive) unpacker = entry.unpacker;
    else entry.unpacker.kill();
  }
  unpacker ??= new Unpacker();
  unpacker.hold(true);
  return unpacker;
}

/** A child that finished a layer well goes back to the pool, or ends. */
function release(unpacker: Unpacker) {
  if (unpacker.alive && unpacker.jobs < maxJobs && idle.length < maxIdle) park(unpacker);
  else unpacker.child.stdin!.end();
}

/**
 * Tells the child how far a growing blob goes, at most once a tick, until its end; a failed
 * blob kills the child. Returns the read error (if any) and what stops the telling.
 */
function tellExtent(unpacker: Unpacker, blob: GrowingBlob): { failure: () => Error | undefined; stop: () => void } {
  const stdin = unpacker.child.stdin!;
  let told = -1;
  let over = false;
  let failure: Error | undefined;
  let scheduled = false;
  const tell = () => {
    scheduled = false;
    if (over) return;
    if (blob.state === 'failed') {
      over = true;
      failure = blob.failure ?? new Error('the download failed');
      unpacker.kill();
    } else if (blob.state === 'complete') {
      over = true;
      stdin.write(`{"end":${blob.written}}\n`);
    } else if (blob.written > told) {
      told = blob.written;
      stdin.write(`{"written":${told}}\n`);
    }
  };
  const unwatch = blob.watch(() => {
    if (!scheduled) {
      scheduled = true;
      setImmediate(tell);
    }
  });
  tell();
  return {
    failure: () => failure,
    stop: () => {
      over = true;
      unwatch();
    },
  };
}

/** Applies one layer through an unpack child; nothing is undone here (see applyLayer). */
export async function runUnpack(job: UnpackJob): Promise<UnpackResult> {
  const parents = job.mode === 'overlay' ? job.parents : undefined;
  const askParents = parents !== undefined && !(Array.isArray(parents) && parents.length === 0);
  let ownFd: number | undefined;
  if (typeof job.blob === 'string') {
    try {
      ownFd = openSync(job.blob, 'r');
    } catch (err) {
      throw new BerthError('Unknown', `reading layer: ${(err as Error).message}`);
    }
  }
  try {
    const fd = ownFd ?? (job.blob as GrowingBlob).fd;
    // the child opens the daemon's descriptor: a file renamed or removed meanwhile is still read whole
    const args: UnpackArgs = { root: job.root, mode: job.mode, compression: job.compression, blob: `/proc/${process.pid}/fd/${fd}`, askParents };
    const unpacker = take();
    unpacker.jobs++;
    unpacker.stderr = '';
    if (unpacker.child.pid !== undefined) job.onSpawn?.(unpacker.child.pid);
    unpacker.child.stdin!.write(`${JSON.stringify(args)}\n`);
    const stopAsking = askParents
      ? answerParents(unpacker.child.stdio[3] as Readable, unpacker.child.stdio[4] as Writable, parents, () => unpacker.kill())
      : () => undefined;
    let extent: ReturnType<typeof tellExtent> | undefined;
    if (ownFd !== undefined) unpacker.child.stdin!.write(`{"end":${fstatSync(ownFd).size}}\n`);
    else extent = tellExtent(unpacker, job.blob as GrowingBlob);
    const line = await unpacker.nextLine();
    stopAsking();
    extent?.stop();
    const readError = extent?.failure();
    let out: (UnpackResult & Partial<UnpackFailure>) | undefined;
    try {
      out = line ? JSON.parse(line) : undefined;
    } catch {
      out = undefined;
    }
    if (!readError && out?.diffID) {
      release(unpacker);
      return { diffID: out.diffID, size: out.size, warnings: out.warnings ?? [] };
    }
    // it exits after a failure; one that does not is killed
    const grace = setTimeout(() => unpacker.kill(), exitGraceMs);
    const [code, signal] = await unpacker.closed;
    clearTimeout(grace);
    if (readError) throw new BerthError('Unknown', `reading layer: ${readError.message}`);
    if (out?.error) throw new BerthError((out.code as ErrorCode) ?? 'Unknown', `apply layer: ${out.error}`);
    const why = signal ? `killed by ${signal}` : `exit status ${code}`;
    const stderr = unpacker.stderr;
    throw new BerthError('Unknown', `apply layer: unpack process failed (${why})${stderr ? `: ${lastLines(stderr)}` : ''}`);
  } finally {
    if (ownFd !== undefined) closeSync(ownFd);
  }
}

/**
 * Answers the child's parent-directory question (one JSON line: the paths) with one JSON line
 * (their infos), once the lowers are known; a child whose lowers fail is killed. Returns what
 * stops listening, once the layer is over.
 */
function answerParents(requests: Readable, answers: Writable, parents: readonly string[] | Promise<readonly string[]>, kill: () => void): () => void {
  const lowers = Promise.resolve(parents);
  let over = false;
  lowers.catch(() => {
    if (!over) kill(); // the lowers failed: this layer is not wanted either
  });
  const chunks: Buffer[] = [];
  let size = 0;
  answers.on('error', () => undefined);
  requests.on('error', () => undefined);
  const onData = (chunk: Buffer) => {
    chunks.push(chunk);
    size += chunk.length;
    if (size > maxParentsRequest) return kill();
    if (chunk[chunk.length - 1] !== 10) return;
    requests.off('data', onData);
    let paths: unknown;
    try {
      paths = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return kill();
    }
    if (!Array.isArray(paths)) return kill();
    lowers.then(
      (dirs) => {
        const infos = paths.map((p) => {
          try {
            return parentInfo(dirs, String(p));
          } catch {
            return null; // unreadable in the lowers: default attributes, as containerd logs and goes on
          }
        });
        answers.write(`${JSON.stringify(infos)}\n`);
      },
      () => undefined,
    );
  };
  requests.on('data', onData);
  return () => {
    over = true;
    requests.off('data', onData);
  };
}

/** The last few lines of a helper's stderr, on one line. */
export function lastLines(s: string) {
  return s.trim().split('\n').slice(-5).join(' | ');
}

/** dist/daemon/diff/<file>, a helper process's entry (unpack-child.js, compare-child.js), from either the sources or dist. */
export function helperEntry(file: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) break;
    const up = dirname(dir);
    if (up === dir) throw new BerthError('Internal', 'berth: no package.json above the diff module');
    dir = up;
  }
  const entry = join(dir, 'dist', 'daemon', 'diff', file);
  if (!existsSync(entry)) throw new BerthError('Internal', `berth diff helper not built (${entry} is missing): run \`npm run build\``);
  return entry;
}
