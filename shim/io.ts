// A process's stdio. The container gets real pipes (not sockets: a program that opens
// /dev/stdout must work), and the shim copies between them and the client's FIFOs, so that it
// knows when the output is complete and can close stdin on CloseIO. Every descriptor the shim
// reads or writes itself is non-blocking and wrapped in a net.Socket, so epoll drives the copies
// and no thread-pool thread ever blocks on a FIFO.
//
// Where stdout/stderr are URIs: `file:///path` appends both streams to the file (handed to the
// process directly), `binary:///path?k=v` starts a logging binary as containerd does.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants as C, closeSync, mkdirSync, openSync, readSync, unlinkSync } from 'node:fs';
import { Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { BerthError } from '../core/errors.ts';
import { mknod, S_IFIFO } from '../native/index.ts';

/** What a process's pty offers (shim/console.ts Pty). */
export interface PtyLike {
  readonly output: NodeJS.ReadableStream;
  readonly input: NodeJS.WritableStream;
  resize(width: number, height: number): void;
  close(): void;
}

export interface StdioConfig {
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
}

type Fd = number | 'ignore';

/**
 * A pipe made from a FIFO that is unlinked at once: the only way to a real pipe(2) in Node
 * without native code. Each end gets its own open file description, so O_NONBLOCK on the
 * shim's end never leaks to the process on the other end.
 */
function makePipe(dir: string, readNonBlock: boolean, writeNonBlock: boolean): { read: number; write: number } {
  const path = join(dir, `.pipe-${randomBytes(8).toString('hex')}`);
  mknod(path, S_IFIFO | 0o600);
  try {
    // holding both ends first means neither open below can block
    const hold = openSync(path, C.O_RDWR | C.O_NONBLOCK);
    try {
      const read = openSync(path, C.O_RDONLY | (readNonBlock ? C.O_NONBLOCK : 0));
      const write = openSync(path, C.O_WRONLY | (writeNonBlock ? C.O_NONBLOCK : 0));
      return { read, write };
    } finally {
      closeSync(hold);
    }
  } finally {
    unlinkSync(path);
  }
}

/** Opens a client FIFO non-blocking (read-write by default: the open never blocks and never fails for lack of a peer). */
function openFifo(path: string, mode: number = C.O_RDWR): number {
  try {
    return openSync(path, mode | C.O_NONBLOCK);
  } catch (err) {
    throw new BerthError('InvalidArgument', `open ${path}: ${(err as Error).message}`);
  }
}

function pipeSocket(fd: number, mode: 'read' | 'write'): Socket {
  const sock = new Socket({ fd, readable: mode === 'read', writable: mode === 'write', allowHalfOpen: true });
  // a vanished reader or writer ends the copy, not the shim
  sock.on('error', () => sock.destroy());
  return sock;
}

function scheme(uri: string): { kind: 'none' | 'fifo' | 'file' | 'binary'; url?: URL } {
  if (uri === '') return { kind: 'none' };
  if (uri.startsWith('/')) return { kind: 'fifo' };
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new BerthError('InvalidArgument', `bad stdio URI ${JSON.stringify(uri)}`);
  }
  if (url.protocol === 'file:') return { kind: 'file', url };
  if (url.protocol === 'binary:') return { kind: 'binary', url };
  if (url.protocol === 'fifo:') return { kind: 'fifo' };
  throw new BerthError('InvalidArgument', `unsupported stdio scheme ${JSON.stringify(url.protocol)}`);
}

export class ProcessIO {
  /** descriptors to hand to runc as 0-2 (the process inherits them) */
  readonly runcStdio: [Fd, Fd, Fd] = ['ignore', 'ignore', 'ignore'];
  private readonly childSide: number[] = [];
  private stdinFifo: { fd: number; sock: Socket } | undefined;
  private stdinPipe: { fd: number; sock: Socket } | undefined;
  private readonly copies: Promise<void>[] = [];
  private readonly sources: Socket[] = [];
  private readonly sinks: Socket[] = [];
  private logger: ChildProcess | undefined;
  pty: PtyLike | undefined;

  private constructor(readonly config: StdioConfig) {}

  /**
   * Sets up stdio for a process. `dir` is where the temporary FIFOs are made (the bundle);
   * `env` goes to a logging binary.
   */
  static async open(config: StdioConfig, dir: string, env: Record<string, string>): Promise<ProcessIO> {
    const io = new ProcessIO(config);
    try {
      await io.setup(dir, env);
    } catch (err) {
      io.close();
      throw err;
    }
    return io;
  }

  private async setup(dir: string, env: Record<string, string>): Promise<void> {
    const { stdin, stdout, stderr, terminal } = this.config;
    if (stdin !== '') {
      // Read-only, as containerd's shim opens it: when the client closes its end (its stdin hit
      // EOF), the process's stdin ends too. The client holds the write end open before Create.
      const fd = openFifo(stdin, C.O_RDONLY);
      this.stdinFifo = { fd, sock: pipeSocket(fd, 'read') };
      if (!terminal) {
        const pipe = makePipe(dir, false, true);
        this.childSide.push(pipe.read);
        this.runcStdio[0] = pipe.read;
        this.stdinPipe = { fd: pipe.write, sock: pipeSocket(pipe.write, 'write') };
        this.stdinFifo.sock.pipe(this.stdinPipe.sock);
      }
    }
    if (terminal) return; // output comes from the pty, see attachPty
    const out = scheme(stdout);
    if (out.kind === 'file') {
      const path = decodeURIComponent(out.url!.pathname);
      mkdirSync(dirname(path), { recursive: true });
      const fd = openSync(path, C.O_WRONLY | C.O_APPEND | C.O_CREAT, 0o640);
      this.childSide.push(fd);
      this.runcStdio[1] = fd;
      this.runcStdio[2] = fd;
      return;
    }
    if (out.kind === 'binary') {
      await this.startLogger(out.url!, dir, env);
      return;
    }
    for (const [n, uri] of [
      [1, stdout],
      [2, stderr],
    ] as const) {
      const s = scheme(uri);
      if (s.kind === 'none') continue;
      if (s.kind !== 'fifo') throw new BerthError('InvalidArgument', `stdout is ${stdout} but stderr is ${uri}`);
      const pipe = makePipe(dir, true, false);
      this.childSide.push(pipe.write);
      this.runcStdio[n] = pipe.write;
      const from = pipeSocket(pipe.read, 'read');
      this.sources.push(from);
      const fifo = openFifo(uri);
      this.copy(from, pipeSocket(fifo, 'write'));
    }
  }

  private copy(from: NodeJS.ReadableStream, to: Socket): void {
    this.sinks.push(to);
    this.copies.push(
      new Promise<void>((resolve) => {
        let done = false;
        const finish = () => {
          if (!done) {
            done = true;
            to.end(() => resolve());
            // a sink whose peer vanished never flushes
            to.once('close', () => resolve());
          }
        };
        from.on('end', finish);
        from.on('close', finish);
        from.on('error', finish);
        from.pipe(to, { end: false });
      }),
    );
  }

  /**
   * containerd's logging-binary contract: the binary gets the process's stdout and stderr as
   * fds 3 and 4 and a pipe on fd 5 that it closes (or writes to) once it is ready; its
   * environment names the container. Query parameters become arguments (`?k=v` → `k v`).
   */
  private async startLogger(url: URL, dir: string, env: Record<string, string>): Promise<void> {
    const out = makePipe(dir, false, false);
    const err = makePipe(dir, false, false);
    const ready = makePipe(dir, true, false);
    this.childSide.push(out.write, err.write);
    this.runcStdio[1] = out.write;
    this.runcStdio[2] = err.write;
    const args: string[] = [];
    for (const [k, v] of url.searchParams) args.push(k, v);
    const readySock = pipeSocket(ready.read, 'read');
    try {
      this.logger = spawn(decodeURIComponent(url.pathname), args, {
        stdio: ['ignore', 'ignore', 'ignore', out.read, err.read, ready.write],
        env: { ...process.env, ...env },
      });
    } finally {
      closeSync(out.read);
      closeSync(err.read);
      closeSync(ready.write);
    }
    const logger = this.logger;
    await new Promise<void>((resolve, reject) => {
      const done = () => {
        readySock.destroy();
        resolve();
      };
      readySock.once('data', done);
      readySock.once('end', done);
      readySock.once('close', done);
      logger.once('error', (e) => {
        readySock.destroy();
        reject(new BerthError('FailedPrecondition', `logging binary ${url.pathname}: ${e.message}`));
      });
    });
    this.copies.push(
      new Promise<void>((resolve) => {
        if (logger.exitCode !== null || logger.signalCode !== null) return resolve();
        logger.once('exit', () => resolve());
      }),
    );
  }

  /** Copies a pty: its output to the stdout FIFO, the stdin FIFO into it. */
  attachPty(pty: PtyLike): void {
    this.pty = pty;
    const { stdout } = this.config;
    if (this.stdinFifo) this.stdinFifo.sock.pipe(pty.input, { end: false });
    if (stdout !== '' && scheme(stdout).kind === 'fifo') {
      const fifo = openFifo(stdout);
      this.copy(pty.output, pipeSocket(fifo, 'write'));
    } else {
      pty.output.resume();
    }
  }

  /** The process has the child-side descriptors now (runc started it): drop the shim's copies. */
  closeChildSide(): void {
    for (const fd of this.childSide.splice(0)) closeSync(fd);
  }

  /** CloseIO: ends the process's stdin after forwarding what the client already wrote. */
  closeStdin(): void {
    const fifo = this.stdinFifo;
    if (!fifo) return;
    this.stdinFifo = undefined;
    fifo.sock.unpipe();
    fifo.sock.pause();
    // first what the socket has buffered, then what is still in the FIFO (read without blocking)
    const rest: Buffer[] = [];
    let chunk: Buffer | null;
    while ((chunk = fifo.sock.read() as Buffer | null) !== null) rest.push(chunk);
    const buf = Buffer.alloc(65536);
    for (;;) {
      let n = 0;
      try {
        n = readSync(fifo.fd, buf);
      } catch {
        break; // EAGAIN: nothing left
      }
      if (n <= 0) break;
      rest.push(Buffer.from(buf.subarray(0, n)));
    }
    fifo.sock.destroy();
    if (this.stdinPipe) {
      for (const b of rest) this.stdinPipe.sock.write(b);
      this.stdinPipe.sock.end();
      this.stdinPipe = undefined;
    } else if (this.pty) {
      for (const b of rest) this.pty.input.write(b);
    }
  }

  /**
   * Resolves when the output has been copied. After the process exited its pipes normally end at
   * once; a descendant that keeps them open gets `graceMs`, then the copy stops.
   */
  async drained(graceMs = 2000): Promise<void> {
    if (this.copies.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const all = Promise.all(this.copies).then(() => undefined);
    const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), graceMs)));
    const first = await Promise.race([all, timeout]);
    clearTimeout(timer);
    if (first === 'timeout') {
      for (const s of this.sources) s.destroy();
      this.pty?.close();
      await Promise.race([all, new Promise((r) => setTimeout(r, 10_000))]);
    }
  }

  /** Releases everything (the process is deleted). */
  close(): void {
    this.closeChildSide();
    this.stdinFifo?.sock.destroy();
    this.stdinPipe?.sock.destroy();
    for (const s of this.sources) s.destroy();
    for (const s of this.sinks) s.destroy();
    this.pty?.close();
  }
}
