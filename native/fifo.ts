import { closeSync, constants, fstatSync, mkdirSync, openSync, readSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';
import { join, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { mknod, S_IFIFO } from './index.ts';

export interface FifoPaths {
  /** the private directory holding them (removed afterwards) */
  dir: string;
  stdin: string;
  stdout: string;
  /** '' with a terminal: the console carries both output streams */
  stderr: string;
}

/**
 * Makes `<fifoDir>/<random>/<id>-stdin|stdout|stderr` as cio.NewFIFOSetInDir does, the
 * directory 0700 so that only root reaches the streams.
 */
export function createFifos(fifoDir: string, id: string, opts: { terminal: boolean }): FifoPaths {
  // the shim opens these by path from another working directory
  fifoDir = resolve(fifoDir);
  mkdirSync(fifoDir, { recursive: true, mode: 0o700 });
  const dir = join(fifoDir, randomHex(16));
  mkdirSync(dir, { mode: 0o700 });
  try {
    const make = (name: string) => {
      const path = join(dir, `${id}-${name}`);
      mknod(path, S_IFIFO | 0o700);
      return path;
    };
    return { dir, stdin: make('stdin'), stdout: make('stdout'), stderr: opts.terminal ? '' : make('stderr') };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/**
 * `bytes` random bytes in hex, read from the kernel: node:crypto's randomBytes would do the same,
 * but loading node:crypto costs every `berth run` ~7 ms.
 */
export function randomHex(bytes: number): string {
  const buf = Buffer.alloc(bytes);
  const fd = openSync('/dev/urandom', 'r');
  try {
    if (readSync(fd, buf) !== bytes) throw new Error('short read from /dev/urandom');
  } finally {
    closeSync(fd);
  }
  return buf.toString('hex');
}

export function removeFifos(paths: Pick<FifoPaths, 'dir'>) {
  rmSync(paths.dir, { recursive: true, force: true });
}

/**
 * Opens a FIFO without blocking and checks it is one (attach opens paths the daemon reported).
 * Read side: O_RDONLY succeeds at once; write side: O_RDWR, because O_WRONLY fails with ENXIO
 * while nobody reads, and the shim opens its end only when the task is created.
 */
export function openFifo(path: string, side: 'read' | 'write'): number {
  const flags = (side === 'read' ? constants.O_RDONLY : constants.O_RDWR) | constants.O_NONBLOCK | constants.O_NOFOLLOW;
  const fd = openSync(path, flags);
  try {
    if (!fstatSync(fd).isFIFO()) throw new Error(`${path} is not a FIFO`);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  return fd;
}

/**
 * A process's output FIFO read as a Socket (the event loop copies it into `sink`, or drops it).
 * A write end of our own is kept until drained, so that reading does not see EOF before the
 * process's side has opened its end.
 */
export class OutputFifo {
  readonly socket: Socket;
  /** settles at EOF (or when the socket closes or fails) */
  readonly ended: Promise<void>;
  private keepalive: number | undefined;

  constructor(path: string, sink: Writable | null) {
    const fd = openFifo(path, 'read');
    try {
      this.keepalive = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    this.socket = new Socket({ fd, readable: true, writable: false });
    this.ended = new Promise<void>((done) => {
      this.socket.once('end', done);
      this.socket.once('close', done);
      this.socket.once('error', () => done());
    });
    if (sink) {
      sink.on('error', () => this.socket.destroy());
      this.socket.pipe(sink, { end: false });
    } else this.socket.resume();
  }

  /** Lets go of our write end: EOF comes once the process's side closes too. */
  release(): void {
    if (this.keepalive !== undefined) closeSync(this.keepalive);
    this.keepalive = undefined;
  }

  close(): void {
    this.release();
    this.socket.unpipe();
    this.socket.destroy();
  }
}

/** After the process exited: lets each output reach EOF, waiting at most timeoutMs. */
export async function drainOutputs(outputs: readonly OutputFifo[], timeoutMs: number): Promise<void> {
  for (const o of outputs) o.release();
  if (outputs.length === 0) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([Promise.all(outputs.map((o) => o.ended)), new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
  clearTimeout(timer);
}

/** A process's stdin FIFO as a writable Socket; the other side going away (EPIPE) is not reported. */
export function openInputFifo(path: string): Socket {
  const socket = new Socket({ fd: openFifo(path, 'write'), readable: false, writable: true });
  socket.on('error', () => undefined);
  return socket;
}
