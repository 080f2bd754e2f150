// Terminals for containers with process.terminal = true. runc (create/exec with
// --console-socket) makes the pty inside the container, connects to our unix socket and
// sends the pty master with SCM_RIGHTS; ConsoleSocket receives it, Pty drives it.
//
// Nothing here blocks the event loop or a thread-pool thread: the listening socket is a
// net.Server; an accepted connection is never read by libuv (pauseOnConnect, as a plain
// read would discard the descriptor) and is drained with non-blocking recvmsg calls, retried
// on a short timer until the message is there (runc sends it right after connecting). The
// master is driven through a libuv pipe handle (epoll, non-blocking read/write).
import { chmodSync, lstatSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { PassThrough, Writable } from 'node:stream';
import { recvFd, setWinsize } from '../native/index.ts';

/** Retry delays (ms) while waiting for the descriptor on an accepted connection. */
const recvDelays = [1, 2, 5, 10, 20, 50];

export class ConsoleSocket {
  readonly path: string;
  private readonly server: net.Server;
  private readonly master: Promise<number>;
  private settle!: { resolve: (fd: number) => void; reject: (err: Error) => void };
  private done = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly conns = new Set<net.Socket>();

  private constructor(path: string) {
    this.path = path;
    this.master = new Promise<number>((resolve, reject) => (this.settle = { resolve, reject }));
    // Callers may never ask for the master (e.g. a failed create): no unhandled rejection.
    this.master.catch(() => undefined);
    this.server = net.createServer({ pauseOnConnect: true }, (conn) => this.accept(conn));
    this.server.on('error', (err) => this.fail(err));
  }

  /**
   * Listens on a unix socket at `path` (a stale socket file there is replaced). The socket
   * file exists when this returns, so runc may be started right away.
   */
  static listen(path: string): ConsoleSocket {
    try {
      if (lstatSync(path).isSocket()) rmSync(path);
    } catch {
      // absent
    }
    const cs = new ConsoleSocket(path);
    // For a unix path, bind and listen happen synchronously inside listen().
    cs.server.listen(path);
    try {
      chmodSync(path, 0o600);
    } catch {
      // the listen failed; its error arrives as an 'error' event and rejects receiveMaster
    }
    return cs;
  }

  /**
   * Resolves with the pty master (the caller owns the descriptor) once runc has connected and
   * sent it; rejects when the socket is closed first or listening failed. Connections that
   * close without sending a descriptor are ignored.
   */
  receiveMaster(): Promise<number> {
    return this.master;
  }

  /** Stops listening and removes the socket file; a pending receiveMaster() rejects. */
  close(): void {
    this.fail(new Error(`console socket ${this.path} closed before a terminal was received`));
  }

  private accept(conn: net.Socket): void {
    if (this.done) {
      conn.destroy();
      return;
    }
    this.conns.add(conn);
    conn.on('error', () => undefined);
    const fd = (conn as unknown as { _handle?: { fd?: number } })._handle?.fd;
    if (typeof fd !== 'number' || fd < 0) {
      this.drop(conn);
      return;
    }
    let attempt = 0;
    const tryRecv = () => {
      if (this.done || conn.destroyed) return;
      let master: number | null;
      try {
        master = recvFd(fd);
      } catch {
        this.drop(conn); // closed, or a message without a descriptor: not runc
        return;
      }
      if (master === null) {
        const t = setTimeout(
          () => {
            this.timers.delete(t);
            tryRecv();
          },
          recvDelays[Math.min(attempt++, recvDelays.length - 1)],
        );
        this.timers.add(t);
        return;
      }
      this.drop(conn);
      this.done = true;
      this.shutdown();
      this.settle.resolve(master);
    };
    tryRecv();
  }

  private drop(conn: net.Socket): void {
    this.conns.delete(conn);
    conn.destroy();
  }

  private fail(err: Error): void {
    if (!this.done) {
      this.done = true;
      this.settle.reject(err);
    }
    this.shutdown();
  }

  private shutdown(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const c of this.conns) c.destroy();
    this.conns.clear();
    if (this.server.listening) this.server.close();
    rmSync(this.path, { force: true });
  }
}

interface PipeHandle {
  open(fd: number): number;
}
interface PipeBinding {
  Pipe: new (type: number) => PipeHandle;
  constants: { SOCKET: number };
}

let pipeBinding: PipeBinding | undefined;

/**
 * A libuv pipe handle over `fd`. Node's public constructors refuse a terminal descriptor
 * (net.Socket({ fd }) throws ERR_INVALID_FD_TYPE), and tty.ReadStream opens a pty master
 * with blocking writes, which would stall the event loop when the container does not read
 * its input. A pipe handle does non-blocking read/write driven by epoll, which is exactly
 * what a pty master needs.
 */
function pipeHandle(fd: number): PipeHandle {
  if (!pipeBinding) {
    // process.binding is documented as deprecated but is the only way to this handle type;
    // the warning is printed only with --pending-deprecation.
    const binding = (process as unknown as { binding(name: string): unknown }).binding;
    pipeBinding = binding.call(process, 'pipe_wrap') as PipeBinding;
  }
  const handle = new pipeBinding.Pipe(pipeBinding.constants.SOCKET);
  const err = handle.open(fd);
  if (err) throw Object.assign(new Error(`cannot open pty master ${fd} as a stream (libuv error ${err})`), { errno: err });
  return handle;
}

export class Pty {
  /** Bytes the container writes to its terminal; ends when the slave side is closed (EIO). */
  readonly output: NodeJS.ReadableStream;
  /** Bytes typed into the terminal; written without blocking, dropped once the pty is closed. */
  readonly input: NodeJS.WritableStream;
  private readonly socket: net.Socket;
  private readonly fd: number;
  private closed = false;

  /** Takes ownership of `masterFd` (closed by close(), or when the terminal hangs up). */
  constructor(masterFd: number) {
    this.fd = masterFd;
    this.socket = new net.Socket({ handle: pipeHandle(masterFd), readable: true, writable: true } as unknown as net.SocketConstructorOpts);
    const output = new PassThrough();
    this.output = output;
    this.socket.on('data', (chunk: Buffer) => {
      if (!output.write(chunk)) {
        this.socket.pause();
        output.once('drain', () => this.socket.resume());
      }
    });
    this.socket.on('end', () => output.end());
    this.socket.on('error', (err: NodeJS.ErrnoException) => {
      // A pty master reads EIO once every slave descriptor is closed: the normal end.
      if (err.code === 'EIO') output.end();
      else output.destroy(err);
    });
    this.socket.on('close', () => {
      this.closed = true;
      if (!output.writableEnded) output.end();
    });
    this.input = new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        if (this.closed || this.socket.destroyed) return cb();
        this.socket.write(chunk, () => cb());
      },
      final: (cb) => cb(),
    });
  }

  /** Sets the terminal's size (columns x rows); the container's foreground process gets SIGWINCH. Ignored once closed. */
  resize(width: number, height: number): void {
    if (this.closed || this.socket.destroyed) return;
    setWinsize(this.fd, width, height);
  }

  /** Closes the master: the container's terminal hangs up (its session leader gets SIGHUP). */
  close(): void {
    this.closed = true;
    this.socket.destroy();
  }
}
