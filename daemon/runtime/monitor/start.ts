// Starting a berth-monitor (docs/monitor.md): it is spawned with a pipe on fd 3, its first
// process exits at once, and the detached monitor answers one line on the pipe once the runtime
// has created (or exec'd) the process: `ok <pid>` or `error <message>`. A waiting monitor is
// spawned ahead (`--wait`) and gets its arguments on fd 4 when they are known.
import { closeSync, existsSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { BerthError } from '../../../core/errors.ts';
import { pipe, spawnProcess, waitpid } from '../../../native/index.ts';

export interface MonitorOptions {
  /** the container's id (the runtime's id) */
  id: string;
  /** the OCI runtime binary, e.g. /usr/sbin/runc */
  runtime: string;
  /** global runtime flags, before the subcommand (--root X, --log X, --systemd-cgroup ...) */
  runtimeArgs?: string[];
  /** where the monitor writes pid, exit and monitor.pid: the bundle for an init, a directory per exec */
  dir: string;
  /** the control socket's path (at most 107 bytes) */
  socket: string;
  /** create mode: the bundle */
  bundle?: string;
  /** create mode: flags added to `runtime create` (--no-pivot ...) */
  createArgs?: string[];
  /** create mode, runc only: its exec FIFO, which `start` reads instead of running `runc start` */
  startFifo?: string;
  /** create mode: the rootfs mount point, unmounted after the runtime's delete on `release delete` */
  rootfs?: string;
  /** create mode: start the container right after creating it; the first `start` request gets the outcome */
  start?: boolean;
  /** exec mode: the process.json to `runtime exec -d --process` */
  exec?: string;
  stdin?: string;
  stdout?: string;
  stderr?: string;
  terminal?: boolean;
  namespace?: string;
  /** the container log (CRI format), written beside the FIFOs; absolute */
  log?: { path: string; maxSize?: number; maxFiles?: number; maxLine?: number };
  /** the monitor binary; by default the package's dist/native/berth-monitor */
  binary?: string;
}

export interface StartedMonitor {
  /** the container process's pid */
  pid: number;
  /** the monitor's pid (as in dir/monitor.pid) */
  monitorPid: number;
}

/** The package's root: the nearest directory upward holding package.json (from source or from dist/). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    if (dirname(dir) === dir) throw new Error('berth-monitor: no package.json found upward');
    dir = dirname(dir);
  }
  return dir;
}

let defaultBinary: string | undefined;

/** dist/native/berth-monitor of this package (`npm run build` makes it). */
export function monitorBinary(): string {
  defaultBinary ??= join(packageRoot(), 'dist', 'native', 'berth-monitor');
  return defaultBinary;
}

export function monitorArgs(o: MonitorOptions): string[] {
  if ((o.bundle === undefined) === (o.exec === undefined)) throw new BerthError('InvalidArgument', 'a monitor needs exactly one of bundle and exec');
  const args = ['--id', o.id, '--runtime', o.runtime, '--dir', o.dir, '--socket', o.socket];
  for (const a of o.runtimeArgs ?? []) args.push('--runtime-arg', a);
  if (o.bundle !== undefined) args.push('--bundle', o.bundle);
  for (const a of o.createArgs ?? []) args.push('--create-arg', a);
  if (o.startFifo !== undefined) args.push('--start-fifo', o.startFifo);
  if (o.rootfs !== undefined) args.push('--rootfs', o.rootfs);
  if (o.start) args.push('--start');
  if (o.exec !== undefined) args.push('--exec', o.exec);
  if (o.stdin) args.push('--stdin', o.stdin);
  if (o.stdout) args.push('--stdout', o.stdout);
  if (o.stderr) args.push('--stderr', o.stderr);
  if (o.terminal) args.push('--terminal');
  if (o.namespace) args.push('--namespace', o.namespace);
  if (o.log) {
    args.push('--log-path', o.log.path);
    if (o.log.maxSize) args.push('--log-max-size', String(o.log.maxSize));
    if (o.log.maxFiles) args.push('--log-max-files', String(o.log.maxFiles));
    if (o.log.maxLine) args.push('--log-max-line', String(o.log.maxLine));
  }
  return args;
}

/** Errors about the request itself (the stdio it names); the rest are the runtime's refusals. */
const requestErrors = /^(bad stdio URI|stdout is .* but stderr is|a log path goes with|open |console socket path .* too long)/;

/** A pipe's read end as a stream (non-blocking, driven by epoll). */
function readEnd(fd: number): Readable {
  return new Socket({ fd, readable: true, writable: false });
}

function collect(stream: Readable | null): Promise<string> {
  return new Promise((resolve) => {
    if (!stream) return resolve('');
    let text = '';
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => (text += d));
    stream.on('error', () => resolve(text));
    stream.on('close', () => resolve(text));
  });
}

interface Spawned {
  pid: number;
  syncRead: number;
  errRead: number;
}

/**
 * posix_spawn, not child_process.spawn: a fork of berthd would hold its thread for milliseconds
 * per container (its whole address space), the monitor's own fork costs nothing.
 */
function spawnMonitor(binary: string, args: string[], extraFds: number[] = []): Spawned {
  const [syncRead, syncWrite] = pipe();
  const [errRead, errWrite] = pipe();
  try {
    return { pid: spawnProcess(binary, [binary, ...args], [-1, -1, errWrite, syncWrite, ...extraFds]), syncRead, errRead };
  } catch (err) {
    closeSync(syncRead);
    closeSync(errRead);
    throw new BerthError('FailedPrecondition', `berth-monitor: ${(err as Error).message}`);
  } finally {
    closeSync(syncWrite);
    closeSync(errWrite);
  }
}

/**
 * A monitor spawned before its arguments are known (`--wait`): its exec and dynamic linking
 * happen while berthd still prepares the container. startMonitor hands it its arguments; one
 * never used must be abandoned (it then exits, having made nothing).
 */
export class WaitingMonitor {
  private argsWrite: number | undefined;
  private readonly spawned: Spawned;

  constructor(readonly binary = monitorBinary()) {
    const [argsRead, argsWrite] = pipe();
    try {
      this.spawned = spawnMonitor(binary, ['--wait'], [argsRead]);
    } catch (err) {
      closeSync(argsWrite);
      throw err;
    } finally {
      closeSync(argsRead);
    }
    this.argsWrite = argsWrite;
  }

  /** the process waiting for its arguments (it forks the monitor proper once it has them) */
  get pid(): number {
    return this.spawned.pid;
  }

  /** Sends the arguments (once); the monitor then does what one started with them does. */
  take(args: string[]): Spawned {
    if (this.argsWrite === undefined) throw new BerthError('Internal', 'berth-monitor: a waiting monitor is used once');
    const fd = this.argsWrite;
    this.argsWrite = undefined;
    try {
      // well under a pipe's 64 KiB: written at once
      writeSync(fd, Buffer.from(args.map((a) => `${a}\0`).join('')));
    } catch (err) {
      // it is gone (killed while it waited): reaped, and the caller starts another
      outcome(this.spawned).catch(() => undefined);
      throw err;
    } finally {
      closeSync(fd);
    }
    return this.spawned;
  }

  /** Lets an unused monitor go: it reads no arguments and exits. Nothing once it was used. */
  async abandon(): Promise<void> {
    if (this.argsWrite === undefined) return;
    closeSync(this.argsWrite);
    this.argsWrite = undefined;
    await outcome(this.spawned).catch(() => undefined);
  }
}

/**
 * Starts a monitor (or gives a waiting one its arguments) and resolves once the runtime has
 * created the process (`runtime create`: created, not started; `exec -d`: running). Rejects
 * with the runtime's message, and then nothing is left of the monitor (its socket and process
 * are gone).
 */
export async function startMonitor(o: MonitorOptions, waiting?: WaitingMonitor): Promise<StartedMonitor> {
  const args = monitorArgs(o);
  const binary = o.binary ?? monitorBinary();
  let spawned: Spawned | undefined;
  if (waiting && waiting.binary === binary) {
    try {
      spawned = waiting.take(args);
    } catch {
      // the waiting one is gone: a new one below
    }
  }
  return outcome(spawned ?? spawnMonitor(binary, args), o.id);
}

/** The monitor's answer on its sync pipe, once its first process has exited. */
async function outcome({ pid, syncRead, errRead }: Spawned, id = ''): Promise<StartedMonitor> {
  const [line, stderr] = await Promise.all([collect(readEnd(syncRead)), collect(readEnd(errRead))]);
  // both pipes ended: the first process has exited (it holds them until then), so this does not wait
  const code = waitpid(pid, false)?.exitCode ?? null;
  if (code !== 0) throw new BerthError('InvalidArgument', `berth-monitor: ${stderr.trim() || `exit ${code}`}`);
  const ok = /^ok (\d+) (\d+)\n$/.exec(line);
  if (ok) return { pid: Number.parseInt(ok[1]!, 10), monitorPid: Number.parseInt(ok[2]!, 10) };
  const error = /^error (.*)\n?$/.exec(line);
  if (!error) throw new BerthError('FailedPrecondition', `berth-monitor for ${id} ended without an answer`);
  throw new BerthError(requestErrors.test(error[1]) ? 'InvalidArgument' : 'FailedPrecondition', error[1]);
}
