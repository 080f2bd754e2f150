import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { type Readable, Writable } from 'node:stream';
import { BerthError, failedPrecondition, invalidArgument, isCode, notFound } from '../../core/errors.ts';
import { processTypeUrl } from '../../core/spec/names.ts';
import { createFifos, drainOutputs, type FifoPaths, OutputFifo, openInputFifo, removeFifos } from '../../native/fifo.ts';
import type { Container, ContainerStore } from '../containers/store.ts';
import type { Logger } from '../log.ts';
import type { TaskManager } from '../runtime/manager.ts';
import type { RuntimeTask } from '../runtime/task.ts';
import { kindLabel } from './sandboxes.ts';

/** What an exec's process talks to; null: that stream is not connected. */
export interface ExecIo {
  tty: boolean;
  /** read to its end, then the process's stdin closes */
  stdin: Readable | null;
  stdout: Writable | null;
  /** unused with a tty (the terminal carries both) */
  stderr: Writable | null;
  /** the terminal's size to start with (tty only) */
  size?: { width: number; height: number };
}

/** A process running in a CRI container. */
export interface ExecProcess {
  /** resolves with the exit code once the process exited and its output was copied */
  exited: Promise<number>;
  /** sets the terminal's size (tty only) */
  resize(width: number, height: number): Promise<void>;
  /** SIGKILL */
  kill(): Promise<void>;
}

export interface ExecDeps {
  ns: string;
  tasks: TaskManager;
  containers: ContainerStore;
  /** where each exec's FIFOs are made (a private directory per exec) */
  fifoDir: string;
  log: Logger;
  /** how long the output may take to reach its end once the process exited (something it started may hold it) */
  drainTimeoutMs?: number;
}

/** ExecSync keeps at most this much of each stream, as containerd's CRI (its cappedWriter: 16 MiB). */
export const execSyncOutputLimit = 16 * 1024 * 1024;

/**
 * Running processes in a CRI container (ExecSync, and Exec through the streaming server): as
 * containerd's CRI does, another process of the container's task (task id = container id) with
 * the container's process spec and the command, its stdio FIFOs made and read by berthd, its
 * exit code from Wait; it is deleted, and its FIFOs removed, however it ends.
 */
export class CriExec {
  constructor(private readonly d: ExecDeps) {}

  /** The container a CRI id (or a unique prefix of one) names. */
  async container(id: string): Promise<Container> {
    if (id === '') throw invalidArgument('a container id is required');
    // a CRI container is a record labelled so; a pod's sandbox record is not one
    const isContainer = (c: Container) => c.labels[kindLabel] === 'container';
    try {
      const c = await this.d.containers.get(this.d.ns, id);
      if (isContainer(c)) return c;
    } catch (err) {
      if (!isCode(err, 'NotFound')) throw err;
    }
    const matches = (await this.d.containers.list(this.d.ns, [`labels."${kindLabel}"==container`])).filter((c) => c.id.startsWith(id));
    if (matches.length === 1) return matches[0]!;
    if (matches.length > 1) throw invalidArgument(`container id prefix ${id} is ambiguous`);
    throw notFound(`container ${id} not found`);
  }

  /** The container's task, running; FailedPrecondition otherwise. */
  async runningTask(c: Container): Promise<RuntimeTask> {
    if (!this.d.tasks.has(this.d.ns, c.id)) throw failedPrecondition(`container ${c.id} is not running`);
    const task = this.d.tasks.get(this.d.ns, c.id);
    const s = await task.state('').catch(() => undefined);
    if (s?.status !== 'RUNNING') throw failedPrecondition(`container ${c.id} is not running`);
    return task;
  }

  /** Starts cmd in the container (by CRI id), connected to io. */
  async start(containerId: string, cmd: string[], io: ExecIo): Promise<ExecProcess> {
    if (cmd.length === 0) throw invalidArgument('a command is required');
    const c = await this.container(containerId);
    const task = await this.runningTask(c);
    const spec = processSpec(c, cmd, io.tty);
    if (io.tty && io.size) spec.consoleSize = { height: io.size.height, width: io.size.width };
    const execId = randomBytes(16).toString('hex');
    const fifos = createFifos(this.d.fifoDir, execId, { terminal: io.tty });
    const pipes = new ExecPipes(fifos, io);
    let created = false;
    let started = false;
    try {
      pipes.open();
      await task.exec(execId, {
        terminal: io.tty,
        stdin: io.stdin ? fifos.stdin : '',
        stdout: fifos.stdout,
        stderr: io.tty ? '' : fifos.stderr,
        spec: { type_url: processTypeUrl, value: Buffer.from(JSON.stringify(spec)) },
      });
      created = true;
      const waited = task.wait(execId);
      waited.catch(() => undefined);
      await task.start(execId);
      started = true;
      pipes.copyStdin(() => {
        task.closeIO(execId, true).catch(() => undefined);
      });
      const exited = (async () => {
        try {
          const { exit_status } = await waited;
          await pipes.drain(this.d.drainTimeoutMs ?? 5000);
          return exit_status;
        } finally {
          await this.cleanup(task, execId, pipes);
        }
      })();
      return {
        exited,
        resize: (width, height) => (io.tty ? task.resizePty(execId, width, height) : Promise.resolve()),
        kill: () =>
          task.kill(execId, 9, false).catch((err) => {
            if (!isCode(err, 'NotFound')) throw err;
          }),
      };
    } catch (err) {
      if (created) await this.cleanup(task, execId, pipes, started);
      else pipes.close();
      throw err;
    }
  }

  /** Deletes the exec (killing it first when it was started and may still run) and its FIFOs; never throws. */
  private async cleanup(task: RuntimeTask, execId: string, pipes: ExecPipes, kill = false): Promise<void> {
    try {
      if (kill) {
        await task.kill(execId, 9, false).catch(() => undefined);
        await Promise.race([task.wait(execId), new Promise((r) => setTimeout(r, 5000))]).catch(() => undefined);
      }
      await task.deleteProcess(execId).catch((err: Error) => {
        if (!isCode(err, 'NotFound')) this.d.log.warn('cannot delete an exec', { id: task.id, exec: execId, error: err.message });
      });
    } finally {
      pipes.close();
    }
  }

  /**
   * ExecSync: runs cmd to its end, its output collected (each stream up to
   * execSyncOutputLimit, the rest read and dropped). A timeout (seconds, 0: none) kills the
   * process and answers DeadlineExceeded.
   */
  async execSync(containerId: string, cmd: string[], timeoutSec: number): Promise<{ stdout: Buffer; stderr: Buffer; exitCode: number }> {
    const stdout = new CappedBuffer(execSyncOutputLimit);
    const stderr = new CappedBuffer(execSyncOutputLimit);
    const p = await this.start(containerId, cmd, { tty: false, stdin: null, stdout: stdout.writable(), stderr: stderr.writable() });
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    if (timeoutSec > 0) {
      timer = setTimeout(() => {
        timedOut = true;
        p.kill().catch((err: Error) => this.d.log.warn('cannot kill an exec that timed out', { id: containerId, error: err.message }));
      }, timeoutSec * 1000);
    }
    try {
      const exitCode = await p.exited;
      if (timedOut) throw new BerthError('DeadlineExceeded', `timeout ${timeoutSec}s exceeded: command ${JSON.stringify(cmd)} was killed`);
      return { stdout: stdout.bytes(), stderr: stderr.bytes(), exitCode };
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The exec's process spec: the container's process with the command (and TERM=xterm with a tty, as containerd sets). */
function processSpec(c: Container, cmd: string[], tty: boolean): Record<string, unknown> {
  if (!c.spec) throw failedPrecondition(`container ${c.id} has no spec`);
  let process: Record<string, unknown> | undefined;
  try {
    process = (JSON.parse(Buffer.from(c.spec.value).toString('utf8')) as { process?: Record<string, unknown> }).process;
  } catch (err) {
    throw failedPrecondition(`container ${c.id}'s spec: ${(err as Error).message}`);
  }
  if (!process) throw failedPrecondition(`container ${c.id} has no process in its spec`);
  const p: Record<string, unknown> = { ...process, args: cmd, terminal: tty };
  delete p.consoleSize;
  if (tty) {
    const env = ((p.env as string[] | undefined) ?? []).filter((e) => !e.startsWith('TERM='));
    p.env = [...env, 'TERM=xterm'];
  }
  return p;
}

/**
 * berthd's ends of an exec's FIFOs, non-blocking and wrapped in net.Sockets so that the event
 * loop copies: the output FIFOs are opened (with a write end of our own, so that reading does not
 * see EOF before the process's side opened) before the exec starts.
 */
class ExecPipes {
  private readonly outputs: OutputFifo[] = [];
  private stdinSocket: Socket | undefined;
  private closed = false;

  constructor(
    private readonly fifos: FifoPaths,
    private readonly io: ExecIo,
  ) {}

  open(): void {
    if (this.io.stdin) this.stdinSocket = openInputFifo(this.fifos.stdin);
    this.outputs.push(new OutputFifo(this.fifos.stdout, this.io.stdout));
    if (!this.io.tty) this.outputs.push(new OutputFifo(this.fifos.stderr, this.io.stderr));
  }

  /** Copies io.stdin into the process; at its end the FIFO closes and onEnd runs (CloseIO). */
  copyStdin(onEnd: () => void): void {
    const source = this.io.stdin;
    const sink = this.stdinSocket;
    if (!source || !sink) return;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      source.unpipe(sink);
      // flushed first: the write end closes once what was sent is in the pipe
      sink.write('', () => {
        sink.destroy();
        onEnd();
      });
    };
    source.pipe(sink, { end: false });
    source.once('end', finish);
    source.once('error', finish);
    source.once('close', finish);
  }

  /** After the exit: lets the output reach EOF (at most timeoutMs). */
  async drain(timeoutMs: number): Promise<void> {
    await drainOutputs(this.outputs, timeoutMs);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const o of this.outputs) o.close();
    this.stdinSocket?.destroy();
    removeFifos(this.fifos);
  }
}

/** A sink that keeps the first `limit` bytes written and drops the rest. */
class CappedBuffer {
  private readonly parts: Buffer[] = [];
  private size = 0;

  constructor(private readonly limit: number) {}

  writable(): Writable {
    return new Writable({
      write: (chunk: Buffer, _enc: BufferEncoding, cb: () => void) => {
        const room = this.limit - this.size;
        if (room > 0) {
          const keep = chunk.length <= room ? chunk : chunk.subarray(0, room);
          this.parts.push(keep);
          this.size += keep.length;
        }
        cb();
      },
    });
  }

  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}
