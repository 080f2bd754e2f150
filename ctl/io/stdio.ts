import { fstatSync, rmSync, statSync } from 'node:fs';
import type { Socket } from 'node:net';
import { createFifos, drainOutputs, type FifoPaths, OutputFifo, openInputFifo, removeFifos } from '../../native/fifo.ts';

/**
 * The client side of a task's stdio, as containerd's cio does it for ctr: FIFOs the shim opens
 * by path, whose other ends this process holds, non-blocking and wrapped in net.Sockets so the
 * event loop (epoll) drives the copying. Or no copying at all: null IO, or a log URI the shim
 * writes to by itself.
 */

/** What Tasks.Create / Tasks.Exec get. */
export interface IoPaths {
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
}

export interface IoSetup {
  /** names the FIFOs: the container id, or the exec id */
  id: string;
  terminal: boolean;
  fifoDir: string;
  /** file:///path or binary:///path?args (a bare absolute path means file://) */
  logUri?: string;
  /** no stdio at all */
  nullIo?: boolean;
  /** false: no stdin FIFO, the process's stdin is /dev/null (default true) */
  stdin?: boolean;
  /**
   * The output FIFOs are made, but opened only by openOutputs(): for a caller that sends its
   * request first, to a side that opens them read-write and needs no reader yet (berth-monitor)
   * or waits for one (a shim).
   */
  outputsLater?: boolean;
}

/** A --log-uri value as the shim takes it; only file:// and binary:// are accepted. */
export function normalizeLogUri(uri: string): string {
  if (uri.startsWith('/')) return `file://${uri}`;
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    throw new Error(`invalid --log-uri "${uri}": use file:///path or binary:///path`);
  }
  if (u.protocol !== 'file:' && u.protocol !== 'binary:') throw new Error(`invalid --log-uri "${uri}": only file:// and binary:// are supported`);
  if (!u.pathname.startsWith('/') || u.pathname === '/') throw new Error(`invalid --log-uri "${uri}": the path must be absolute`);
  return uri;
}

/** The file a file:// log URI names, if it is one. */
export function logFileOf(uri: string): string | undefined {
  if (!uri.startsWith('file://')) return undefined;
  try {
    return decodeURIComponent(new URL(uri).pathname);
  } catch {
    return undefined;
  }
}

/** Whether this process's stdin is /dev/null. */
export function stdinIsDevNull(): boolean {
  try {
    const stdin = fstatSync(0);
    return stdin.isCharacterDevice() && stdin.rdev === statSync('/dev/null').rdev;
  } catch {
    return false;
  }
}

export class ClientIO {
  private fifos: FifoPaths | undefined;
  private outputs: OutputFifo[] = [];
  private stdinSocket: Socket | undefined;
  private rawSet = false;
  private started = false;
  private readingStdin = false;
  private outputsOpen = false;
  private readonly restoreOnExit = () => this.restoreTerminal();

  private constructor(readonly paths: IoPaths) {}

  /** FIFOs (or a log URI, or nothing) for a new task or exec. */
  static create(s: IoSetup): ClientIO {
    // (a detached run that keeps a log may have a terminal with no FIFO: its output goes to the log)
    if (s.nullIo) return ClientIO.notCopying({ stdin: '', stdout: '', stderr: '', terminal: Boolean(s.terminal) });
    if (s.logUri) {
      if (s.terminal) throw new Error('--log-uri cannot be used with a terminal (-t)');
      const uri = normalizeLogUri(s.logUri);
      return ClientIO.notCopying({ stdin: '', stdout: uri, stderr: uri, terminal: false });
    }
    const fifos = createFifos(s.fifoDir, s.id, { terminal: s.terminal });
    if (s.stdin === false) rmSync(fifos.stdin);
    const io = new ClientIO({ stdin: s.stdin === false ? '' : fifos.stdin, stdout: fifos.stdout, stderr: fifos.stderr, terminal: s.terminal });
    io.fifos = fifos;
    try {
      io.open(!s.outputsLater);
    } catch (err) {
      io.close();
      throw err;
    }
    // raw before the process starts: a shell's first query of the terminal (where is the cursor?)
    // is answered into our stdin, and a terminal still in cooked mode would echo the answer
    if (s.terminal) io.setRaw();
    return io;
  }

  /** Null IO, or a log URI the other side writes to by itself: nothing to open or copy. */
  private static notCopying(paths: IoPaths): ClientIO {
    const io = new ClientIO(paths);
    io.outputsOpen = true;
    return io;
  }

  /** The FIFOs of a task that exists already (attach); paths that are not FIFOs are refused. */
  static attach(paths: IoPaths): ClientIO {
    const isFifo = (p: string) => p !== '' && !/^[a-z]+:\/\//.test(p);
    if (!isFifo(paths.stdout) && !isFifo(paths.stdin)) throw new Error('the task has no FIFO stdio to attach to (started detached, with null IO or a log URI)');
    const io = new ClientIO({
      ...paths,
      stdin: isFifo(paths.stdin) ? paths.stdin : '',
      stdout: isFifo(paths.stdout) ? paths.stdout : '',
      stderr: isFifo(paths.stderr) ? paths.stderr : '',
    });
    try {
      io.open();
    } catch (err) {
      io.close();
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new Error("the task's FIFOs are gone: whoever started it has exited");
      throw err;
    }
    return io;
  }

  /** Whether anything is copied (FIFOs), as opposed to null IO or a log URI. */
  get copying(): boolean {
    return this.outputs.length > 0 || this.stdinSocket !== undefined;
  }

  private open(outputs = true) {
    if (this.paths.stdin) this.stdinSocket = openInputFifo(this.paths.stdin);
    if (outputs) this.openOutputs();
  }

  /** Opens the output FIFOs and copies them to this process's stdout and stderr (once). */
  openOutputs() {
    if (this.outputsOpen) return;
    this.outputsOpen = true;
    for (const [path, sink] of [
      [this.paths.stdout, process.stdout],
      [this.paths.stderr, process.stderr],
    ] as const) {
      if (path) this.outputs.push(new OutputFifo(path, sink));
    }
  }

  /**
   * Starts copying the user's stdin (raw mode on a terminal). onStdinEnd runs once at EOF,
   * after the FIFO is closed: the caller sends CloseIO there.
   */
  start(onStdinEnd: () => void) {
    if (this.started) return;
    this.started = true;
    if (this.paths.terminal) this.setRaw();
    const sink = this.stdinSocket;
    if (!sink) return;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      // flushed first: the write end closes only once what was typed is in the pipe
      sink.write('', () => {
        sink.destroy();
        onStdinEnd();
      });
    };
    // at its end from the start: nothing to copy, and no process.stdin (its file stream costs ~10 ms to make)
    if (stdinIsDevNull()) return finish();
    const input = process.stdin;
    this.readingStdin = true;
    input.on('data', (chunk: Buffer) => {
      if (!sink.write(chunk)) {
        input.pause();
        sink.once('drain', () => input.resume());
      }
    });
    input.once('end', finish);
    input.once('error', finish);
    sink.once('close', () => {
      done = true;
      input.pause();
    });
  }

  private setRaw() {
    const input = process.stdin;
    if (!input.isTTY || this.rawSet) return;
    input.setRawMode(true);
    this.rawSet = true;
    process.once('exit', this.restoreOnExit);
  }

  restoreTerminal() {
    if (!this.rawSet) return;
    this.rawSet = false;
    try {
      process.stdin.setRawMode(false);
    } catch {
      // the terminal is gone
    }
    process.off('exit', this.restoreOnExit);
  }

  /** The user's terminal size, for ResizePty; undefined when stdout is not a terminal. */
  static terminalSize(): { width: number; height: number } | undefined {
    const out = process.stdout;
    if (!out.isTTY || !out.columns || !out.rows) return undefined;
    return { width: out.columns, height: out.rows };
  }

  /**
   * For a caller that knows the process's side has opened its ends of the output FIFOs (berthd's
   * Run has started the process, whose monitor opened them before creating it): our own write
   * ends go now, so that EOF comes as soon as that side closes them rather than only once the
   * exit status is in and drain() lets go of them.
   */
  outputsHeld() {
    for (const o of this.outputs) o.release();
  }

  /**
   * After the process exited: lets the output FIFOs reach EOF (the shim closes its ends once
   * it has copied everything), waiting at most timeoutMs.
   */
  async drain(timeoutMs = 5000): Promise<void> {
    await drainOutputs(this.outputs, timeoutMs);
  }

  /**
   * Lets go of the FIFOs without removing them (a detached task keeps its stdio, as with ctr
   * run -d, so that `berth tasks attach` can reopen it; the task's deletion removes them).
   */
  release() {
    this.fifos = undefined;
    this.close();
  }

  /** Stops copying, closes every end, restores the terminal and removes the FIFOs we made. */
  close() {
    this.restoreTerminal();
    this.stdinSocket?.destroy();
    this.stdinSocket = undefined;
    for (const o of this.outputs) o.close();
    this.outputs = [];
    this.outputsOpen = true; // none opened after this
    if (this.readingStdin) {
      process.stdin.pause();
      process.stdin.removeAllListeners('data');
    }
    if (this.fifos) removeFifos(this.fifos);
    this.fifos = undefined;
  }
}
