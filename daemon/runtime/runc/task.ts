// A task berthd runs itself: runc for the container, one berth-monitor per process (init and
// each exec) for its stdio and exit status. No shim process: berthd talks to runc and to the
// monitors, and publishes the task's events. Everything needed after a daemon restart is on disk
// (task.json, each process's exec.json and the monitor's files), see RuncTask.restore.
import { promises as fs, renameSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { ProcessInfo__Output } from '../../../api/gen/containerd/v1/types/ProcessInfo.ts';
import { type AnyMessage, packAny } from '../../../core/any.ts';
import { alreadyExists, failedPrecondition, invalidArgument, isCode, notFound } from '../../../core/errors.ts';
import type { Mount } from '../../../core/mount.ts';
import { taskMetrics } from '../../../core/runc/metrics.ts';
import { type OomWatcher, watchOom } from '../../../core/runc/oom.ts';
import { type Runc, RuntimeError, type RuntimeOptions, runtimeFor } from '../../../core/runc/runc.ts';
import { mountAll, unmountAll } from '../../../native/mount.ts';
import type { Exchange } from '../../events/exchange.ts';
import { exists } from '../../fsutil.ts';
import type { Logger } from '../../log.ts';
import type { Bundle } from '../bundle.ts';
import { MonitorClient, readExit, startMonitor, type WaitingMonitor } from '../monitor/index.ts';
import { isRunning } from '../process.ts';
import type { ExecOptions, ExitStatus, ProcessState, RuntimeTask } from '../task.ts';
import { MonitoredProcess, now, type ProcessExit, type Stdio, timestampOfNs } from './process.ts';

/** What every runc task shares: where things go and who hears about them. */
export interface RuncContext {
  /** berthd's state dir: runc's root is <state>/runc/<namespace> unless the options name another */
  state: string;
  exchange: Exchange;
  log: Logger;
  /** a short path for a process's control socket (sun_path holds 108 bytes) */
  socketPath(namespace: string, id: string, execId: string): string;
  /** told when the task ended without a Delete: its monitor died, it was cleaned up */
  lost(task: RuncTask, exit: ExitStatus): void;
}

/** What the task keeps in its bundle (task.json) for a restarted daemon. */
interface TaskFile {
  runtime: string;
  options: RuntimeOptions;
  cgroupsPath: string;
  ownPidNamespace: boolean;
  rootfsMounted: boolean;
  stdio: Stdio;
}

interface Spec {
  linux?: { cgroupsPath?: string; namespaces?: { type: string; path?: string }[] };
  hooks?: { poststart?: unknown[] };
}

const reportedMark = 'exit.reported';

export class RuncTask implements RuntimeTask {
  readonly execs = new Map<string, MonitoredProcess>();
  private paused = false;
  private oom: OomWatcher | undefined;
  private oomReported = false;
  private deleted = false;
  /** processes whose monitor was gone already when berthd restored the task (see settleRestored) */
  private goneAtRestore: MonitoredProcess[] = [];
  /** the init's start, begun by create (`startNow`) and not yet claimed by a Start */
  private startedByCreate: Promise<void> | undefined;

  private constructor(
    private readonly ctx: RuncContext,
    readonly bundle: Bundle,
    readonly runc: Runc,
    readonly runtime: string,
    private readonly file: TaskFile,
    readonly init: MonitoredProcess,
  ) {}

  get namespace(): string {
    return this.bundle.namespace;
  }
  get id(): string {
    return this.bundle.id;
  }
  get pid(): number {
    return this.init.pid;
  }

  /**
   * Creates the container: rootfs mounted, `runc create` run by the init's monitor (`monitor`,
   * when one was spawned ahead for it). With `startNow` the monitor starts it right after (no
   * round trip to berthd in between) and the next Start of the init only waits for that; the
   * events come in their usual order.
   */
  static async create(
    ctx: RuncContext,
    bundle: Bundle,
    runtime: string,
    options: RuntimeOptions,
    specJson: Uint8Array,
    rootfs: Mount[],
    stdio: Stdio,
    { startNow = false, monitor }: { startNow?: boolean; monitor?: WaitingMonitor } = {},
  ): Promise<RuncTask> {
    const spec = JSON.parse(Buffer.from(specJson).toString('utf8')) as Spec;
    const runc = runtimeFor(options, bundle.namespace, bundle.path, ctx.state);
    const file: TaskFile = {
      runtime,
      options,
      cgroupsPath: spec.linux?.cgroupsPath ?? '',
      ownPidNamespace: (spec.linux?.namespaces ?? []).some((ns) => ns.type === 'pid' && !ns.path),
      rootfsMounted: rootfs.length > 0,
      stdio,
    };
    const init = new MonitoredProcess(bundle.id, '', stdio, bundle.path, ctx.socketPath(bundle.namespace, bundle.id, ''));
    const task = new RuncTask(ctx, bundle, runc, runtime, file, init);
    const rootfsDir = join(bundle.path, 'rootfs');
    try {
      await writeJson(join(bundle.path, 'task.json'), file);
      if (file.rootfsMounted) await mountAll(rootfs, rootfsDir);
      const { pid } = await startMonitor(
        {
          id: bundle.id,
          namespace: bundle.namespace,
          runtime: runc.binary,
          runtimeArgs: runc.globalArgs(),
          dir: init.dir,
          socket: init.socket,
          bundle: bundle.path,
          startFifo: startFifoOf(runc, bundle.id, spec),
          rootfs: file.rootfsMounted ? rootfsDir : undefined,
          start: startNow,
          ...stdio,
        },
        monitor,
      );
      init.pid = pid;
    } catch (err) {
      await runc.delete(bundle.id, true).catch(() => undefined);
      if (file.rootfsMounted) await unmountAll(rootfsDir).catch(() => undefined);
      throw err;
    }
    task.watchOom();
    ctx.exchange.publish(bundle.namespace, '/tasks/create', 'containerd.events.TaskCreate', {
      container_id: bundle.id,
      bundle: bundle.path,
      rootfs,
      io: { stdin: stdio.stdin, stdout: stdio.stdout, stderr: stdio.stderr, terminal: stdio.terminal },
      pid: init.pid,
    });
    if (startNow) task.startByCreate();
    // only now: an init that died already must not have its exit published before its create
    // (nor, when it is being started, before its start: see exited)
    task.follow(init);
    return task;
  }

  /**
   * The task of a bundle after a daemon restart, undefined when the bundle is not one of these.
   * Running processes are followed again through their monitors; a process that exited while
   * berthd was away is reported now (once: the report is marked on disk before the monitor goes).
   */
  static async restore(ctx: RuncContext, bundle: Bundle): Promise<RuncTask | undefined> {
    const file = await readJson<TaskFile>(join(bundle.path, 'task.json'));
    if (!file) return undefined;
    const init = new MonitoredProcess(bundle.id, '', file.stdio, bundle.path, ctx.socketPath(bundle.namespace, bundle.id, ''));
    const runc = runtimeFor(file.options, bundle.namespace, bundle.path, ctx.state);
    const task = new RuncTask(ctx, bundle, runc, file.runtime, file, init);
    init.pid = await readPid(init.dir);
    const state = await task.runc.state(bundle.id).catch(() => undefined);
    init.status = state?.status === 'created' ? 'CREATED' : 'RUNNING';
    task.paused = state?.status === 'paused';
    for (const execId of await fs.readdir(join(bundle.path, 'exec')).catch(() => [] as string[])) {
      const dir = join(bundle.path, 'exec', execId);
      const stdio = await readJson<Stdio>(join(dir, 'exec.json'));
      const pid = await readPid(dir);
      if (!stdio || !pid) {
        // added but never started: Exec is not durable, as with containerd
        await fs.rm(dir, { recursive: true, force: true });
        continue;
      }
      const p = new MonitoredProcess(bundle.id, execId, stdio, dir, ctx.socketPath(bundle.namespace, bundle.id, execId));
      p.pid = pid;
      p.status = 'RUNNING';
      task.execs.set(execId, p);
    }
    task.watchOom();
    for (const p of [init, ...task.execs.values()]) {
      if (isRunning(await readPid(p.dir, 'monitor.pid'))) task.follow(p);
      else task.goneAtRestore.push(p);
    }
    return task;
  }

  /**
   * Settles the processes whose monitor died while berthd was away (their exit from the exit file,
   * or killed and reported 137 when there is none), once the task is registered and before berthd
   * serves, so that their events reach the subscribers of its first minute as a dead shim's do.
   */
  async settleRestored(): Promise<void> {
    for (const p of this.goneAtRestore.splice(0)) {
      await this.collect(p, false).catch((err: Error) => this.ctx.log.error('settling a process failed', { id: this.id, exec: p.execId, error: err.message }));
    }
  }

  /** Whether a bundle is one of a task berthd runs through runc. */
  static isRuncBundle(bundle: Bundle): Promise<boolean> {
    return exists(join(bundle.path, 'task.json'));
  }

  /**
   * Cleans up what a task left in a bundle no task owns (berthd stopped in the middle of a
   * Create, or a cleanup failed): the container goes from runc, then its monitors. False when the
   * bundle is not one of these.
   */
  static async removeLeftover(ctx: RuncContext, bundle: Bundle): Promise<boolean> {
    const file = await readJson<TaskFile>(join(bundle.path, 'task.json')).catch(() => undefined);
    if (!file) return false;
    await runtimeFor(file.options, bundle.namespace, bundle.path, ctx.state)
      .delete(bundle.id, true)
      .catch(() => undefined);
    const dirs = [bundle.path, ...(await fs.readdir(join(bundle.path, 'exec')).catch(() => [] as string[])).map((e) => join(bundle.path, 'exec', e))];
    for (const dir of dirs) {
      const monitor = await readPid(dir, 'monitor.pid');
      if (monitor) await signal(monitor, 9);
    }
    await fs.rm(ctx.socketPath(bundle.namespace, bundle.id, ''), { force: true });
    await bundle.remove();
    return true;
  }

  private watchOom(): void {
    if (!this.file.cgroupsPath) return;
    try {
      this.oom = watchOom(this.file.cgroupsPath, () => this.reportOom());
    } catch (err) {
      this.ctx.log.warn('cannot watch for OOM kills', { id: this.id, error: (err as Error).message });
    }
  }

  private reportOom(): void {
    this.oomReported = true;
    this.ctx.exchange.publish(this.namespace, '/tasks/oom', 'containerd.events.TaskOOM', { container_id: this.id });
  }

  /** Follows a process through its monitor until it has exited (see collect). */
  private follow(p: MonitoredProcess): void {
    this.collect(p, true).catch((err: Error) => this.ctx.log.error('following a process failed', { id: this.id, exec: p.execId, error: err.message }));
  }

  /**
   * Collects a process's exit: from its monitor (waiting for it when `wait`), or else the exit
   * recorded on disk while nobody listened. A monitor that vanished without one lost its process.
   */
  private async collect(p: MonitoredProcess, wait: boolean): Promise<void> {
    const monitor = new MonitorClient(p.socket);
    let exit: ProcessExit | undefined;
    try {
      if (!wait) throw new Error('the monitor is gone');
      const { exit: e } = await monitor.wait();
      exit = { status: e.status, exitedAt: timestampOfNs(e.exitedAt) };
    } catch {
      const e = await readExit(p.dir).catch(() => undefined);
      if (e) exit = { status: e.status, exitedAt: timestampOfNs(e.exitedAt) };
    }
    if (!exit) {
      await this.monitorLost(p);
      await monitor.release().catch(() => undefined);
      return;
    }
    // an init's monitor deletes the container as it goes (unless Delete is already doing it),
    // while the client still turns the exit into its Delete; remove() waits for that
    const deleteContainer = p.isInit && !this.deleted;
    let released: (deleted: boolean) => void = () => undefined;
    if (p.isInit) p.released = new Promise((resolve) => (released = resolve));
    try {
      await this.exited(p, exit);
    } finally {
      // its exit is collected (and reported): the monitor may go. One that refused (a monitor
      // from before `release delete`, still running after an upgrade) is released plainly.
      released(
        await monitor.release(deleteContainer).then(
          () => deleteContainer,
          () =>
            monitor.release().then(
              () => false,
              () => false,
            ),
        ),
      );
    }
  }

  private async exited(p: MonitoredProcess, exit: ProcessExit): Promise<void> {
    await p.starting?.catch(() => undefined);
    if (p.isInit) {
      if (this.oom?.check() && !this.oomReported) this.reportOom();
      // with a shared pid namespace nothing else stops the execs (containerd's shim does the same)
      if (!this.file.ownPidNamespace) for (const e of this.execs.values()) if (e.status === 'RUNNING') await this.signalProcess(e, 9).catch(() => undefined);
    }
    p.setExited(exit);
    if (await exists(join(p.dir, reportedMark))) return;
    // stamped with the exit's time: an exit that happened while berthd was down reaches the
    // subscribers that come in its first minute of serving (the exchange keeps what they missed)
    this.ctx.exchange.forward({
      timestamp: Math.min(Date.now(), Number(exit.exitedAt.seconds) * 1000 + Math.floor(exit.exitedAt.nanos / 1e6)),
      namespace: this.namespace,
      topic: '/tasks/exit',
      event: packAny('containerd.events.TaskExit', { container_id: this.id, id: p.eventId, pid: p.pid, exit_status: exit.status, exited_at: exit.exitedAt }),
    });
    await fs.writeFile(join(p.dir, reportedMark), '').catch(() => undefined);
  }

  /** A monitor died without an exit: its process is killed, and a lost init takes the task with it (as containerd does for a dead shim). */
  private async monitorLost(p: MonitoredProcess): Promise<void> {
    if (this.deleted) return;
    this.ctx.log.warn('the monitor of a process is gone; killing the process', { namespace: this.namespace, id: this.id, exec: p.execId });
    if (p.isInit) await this.runc.delete(this.id, true).catch(() => undefined);
    else if (p.pid > 0) await signal(p.pid, 9);
    await this.exited(p, { status: 137, exitedAt: now() });
    if (p.isInit) {
      const result = await this.remove();
      this.ctx.lost(this, result);
    }
  }

  private process(execId: string): MonitoredProcess {
    if (execId === '') return this.init;
    const p = this.execs.get(execId);
    if (!p) throw notFound(`process ${execId}`);
    return p;
  }

  /** The init's start as Start does it, begun now: the monitor is starting it already (see create). */
  private startByCreate(): void {
    const run = this.startInit();
    this.init.starting = run;
    this.startedByCreate = run.finally(() => {
      this.init.starting = undefined;
    });
    this.startedByCreate.catch(() => undefined);
  }

  async start(execId: string): Promise<{ pid: number }> {
    if (execId === '' && this.startedByCreate) {
      const started = this.startedByCreate;
      this.startedByCreate = undefined;
      await started;
      return { pid: this.init.pid };
    }
    const p = this.process(execId);
    if (p.status !== 'CREATED' || p.starting) throw failedPrecondition(`process ${p.eventId} is ${p.starting ? 'starting' : p.status.toLowerCase()}`);
    const run = p.isInit ? this.startInit() : this.startExec(p);
    p.starting = run;
    try {
      await run;
    } finally {
      p.starting = undefined;
    }
    return { pid: p.pid };
  }

  private async startInit(): Promise<void> {
    // the monitor runs `runc start`: a spawn from a small process, not from berthd's
    await new MonitorClient(this.init.socket).start();
    if (this.init.status === 'CREATED') this.init.status = 'RUNNING';
    this.ctx.exchange.publish(this.namespace, '/tasks/start', 'containerd.events.TaskStart', { container_id: this.id, pid: this.init.pid });
  }

  private async startExec(p: MonitoredProcess): Promise<void> {
    if (this.init.status === 'STOPPED') throw failedPrecondition(`container ${this.id} is stopped`);
    await fs.mkdir(p.dir, { recursive: true, mode: 0o700 });
    const processFile = join(p.dir, 'process.json');
    await fs.writeFile(processFile, JSON.stringify(p.spec), { mode: 0o600 });
    await writeJson(join(p.dir, 'exec.json'), p.stdio);
    const { pid } = await startMonitor({
      id: this.id,
      namespace: this.namespace,
      runtime: this.runc.binary,
      runtimeArgs: this.runc.globalArgs(),
      dir: p.dir,
      socket: p.socket,
      exec: processFile,
      ...p.stdio,
    });
    p.pid = pid;
    p.status = 'RUNNING';
    this.follow(p);
    this.ctx.exchange.publish(this.namespace, '/tasks/exec-started', 'containerd.events.TaskExecStarted', { container_id: this.id, exec_id: p.execId, pid });
  }

  async exec(execId: string, o: ExecOptions): Promise<void> {
    if (this.execs.has(execId)) throw alreadyExists(`process ${execId}`);
    if (this.init.status === 'STOPPED') throw failedPrecondition(`container ${this.id} is stopped`);
    let spec: { terminal?: boolean; args?: unknown };
    try {
      spec = JSON.parse(Buffer.from(o.spec.value ?? []).toString('utf8')) as typeof spec;
    } catch (err) {
      throw invalidArgument(`exec spec: ${(err as Error).message}`);
    }
    if (!Array.isArray(spec.args) || spec.args.length === 0) throw invalidArgument('exec spec has no args');
    spec.terminal = o.terminal;
    const stdio = { stdin: o.stdin, stdout: o.stdout, stderr: o.stderr, terminal: o.terminal };
    const p = new MonitoredProcess(this.id, execId, stdio, join(this.bundle.path, 'exec', execId), this.ctx.socketPath(this.namespace, this.id, execId));
    p.spec = spec;
    this.execs.set(execId, p);
    this.ctx.exchange.publish(this.namespace, '/tasks/exec-added', 'containerd.events.TaskExecAdded', { container_id: this.id, exec_id: execId });
  }

  async kill(execId: string, sig: number, all: boolean): Promise<void> {
    const p = this.process(execId);
    if (p.status === 'STOPPED') throw notFound('process already finished');
    if (p.isInit && !all) {
      // kill(2) by the monitor, which knows the pid is still its process's (as runc kill does)
      await this.signalProcess(p, sig);
      return;
    }
    if (p.isInit) {
      try {
        await this.runc.kill(this.id, sig, all);
      } catch (err) {
        if (err instanceof RuntimeError && /not running|no such process|container does not exist|not exist/i.test(err.runtimeMessage)) {
          throw notFound('process already finished');
        }
        throw err;
      }
      return;
    }
    if (p.pid === 0) throw failedPrecondition(`process ${execId} is not started`);
    await this.signalProcess(p, sig);
  }

  /** Signals a process through its monitor, which knows whether the pid is still its process's. */
  private async signalProcess(p: MonitoredProcess, sig: number): Promise<void> {
    try {
      await new MonitorClient(p.socket).kill(sig);
    } catch (err) {
      throw notFound(`process already finished: ${(err as Error).message}`);
    }
  }

  /** One request to a running process's monitor; nothing to do once the process has exited. */
  private async tell(p: MonitoredProcess, fn: (m: MonitorClient) => Promise<void>): Promise<void> {
    if (p.status === 'STOPPED' || p.pid === 0) return;
    await fn(new MonitorClient(p.socket)).catch((err: Error) => {
      // it exited meanwhile and its monitor is gone
      if (!isCode(err, 'Unavailable')) throw err;
    });
  }

  async resizePty(execId: string, width: number, height: number): Promise<void> {
    const p = this.process(execId);
    if (!p.stdio.terminal) return;
    await this.tell(p, (m) => m.resize(width, height));
  }

  async closeIO(execId: string, stdin: boolean): Promise<void> {
    const p = this.process(execId);
    if (stdin) await this.tell(p, (m) => m.closeStdin());
  }

  /** Has the init's monitor open its CRI log's path again (CRI's ReopenContainerLog, after the file was moved away). */
  async reopenLog(): Promise<void> {
    if (this.init.status === 'STOPPED') throw failedPrecondition(`container ${this.id} is not running`);
    await new MonitorClient(this.init.socket).reopenLog();
  }

  async pause(): Promise<void> {
    if (this.init.status !== 'RUNNING' || this.paused) throw failedPrecondition(`container ${this.id} is not running`);
    await this.runc.pause(this.id);
    this.paused = true;
    this.ctx.exchange.publish(this.namespace, '/tasks/paused', 'containerd.events.TaskPaused', { container_id: this.id });
  }

  async resume(): Promise<void> {
    if (!this.paused || this.init.status === 'STOPPED') throw failedPrecondition(`container ${this.id} is not paused`);
    await this.runc.resume(this.id);
    this.paused = false;
    this.ctx.exchange.publish(this.namespace, '/tasks/resumed', 'containerd.events.TaskResumed', { container_id: this.id });
  }

  async pids(): Promise<ProcessInfo__Output[]> {
    const pids = await this.runc.ps(this.id);
    const execOf = new Map<number, string>();
    for (const e of this.execs.values()) if (e.pid > 0) execOf.set(e.pid, e.execId);
    return pids.map((pid) => {
      const execId = execOf.get(pid);
      return { pid, info: execId ? (packAny('containerd.runc.v1.ProcessDetails', { exec_id: execId }) as ProcessInfo__Output['info']) : null };
    });
  }

  async update(resources: AnyMessage, _annotations: Record<string, string>): Promise<void> {
    if (!resources.value || resources.value.length === 0) throw invalidArgument('resources are empty');
    if (this.init.status === 'STOPPED') throw notFound('process already finished');
    await this.runc.update(this.id, Buffer.from(resources.value));
  }

  async stats(): Promise<AnyMessage | null> {
    if (!this.file.cgroupsPath) throw notFound(`container ${this.id} has no cgroup`);
    return taskMetrics(this.file.cgroupsPath);
  }

  state(execId: string): Promise<ProcessState> {
    const p = this.process(execId);
    return Promise.resolve({
      id: this.id,
      bundle: this.bundle.path,
      pid: p.pid,
      status: p.isInit && p.status === 'RUNNING' && this.paused ? 'PAUSED' : p.status,
      stdin: p.stdio.stdin,
      stdout: p.stdio.stdout,
      stderr: p.stdio.stderr,
      terminal: p.stdio.terminal,
      exit_status: p.exit?.status ?? 0,
      exited_at: p.exit?.exitedAt ?? null,
      exec_id: p.execId,
    });
  }

  async wait(execId: string): Promise<Omit<ExitStatus, 'pid'>> {
    const exit = await this.process(execId).wait();
    return { exit_status: exit.status, exited_at: exit.exitedAt };
  }

  async deleteProcess(execId: string): Promise<ExitStatus> {
    if (execId === '') throw invalidArgument('exec id is required to delete a process');
    const p = this.process(execId);
    if (p.status === 'RUNNING' || p.starting) throw failedPrecondition(`cannot delete a running process`);
    this.execs.delete(execId);
    await fs.rm(p.dir, { recursive: true, force: true });
    return { pid: p.pid, exit_status: p.exit?.status ?? 0, exited_at: p.exit?.exitedAt ?? null };
  }

  /** Deletes the task once its init has exited (or was never started): runc's container, the execs, the rootfs mount. */
  async delete(): Promise<ExitStatus> {
    const p = this.init;
    if (p.status === 'RUNNING' || p.starting) throw failedPrecondition(`cannot delete a ${this.paused ? 'paused' : 'running'} process`);
    const result = await this.remove();
    this.ctx.exchange.publish(this.namespace, '/tasks/delete', 'containerd.events.TaskDelete', { container_id: this.id, ...result, id: this.id });
    return result;
  }

  /** Removes the container from runc and the host; the bundle itself is the manager's. */
  private async remove(): Promise<ExitStatus> {
    this.deleted = true;
    const p = this.init;
    // the monitor of an init that exited deletes the container itself (see collect)
    const deletedByMonitor = p.status === 'STOPPED' && p.released !== undefined && (await p.released);
    try {
      if (!deletedByMonitor) await this.runc.delete(this.id, true);
    } catch (err) {
      // already gone from the runtime (deleted behind our back): what we wanted
      if (!(err instanceof RuntimeError && /does not exist|not found/i.test(err.runtimeMessage))) throw err;
    }
    // runc killed an init that was never started: its monitor reports that exit
    if (p.status === 'CREATED') await Promise.race([p.wait(), new Promise((r) => setTimeout(r, 5000))]);
    for (const e of this.execs.values()) {
      if (e.status === 'RUNNING') await this.signalProcess(e, 9).catch(() => undefined);
      // an exec that never started will not: release its Waits
      if (e.status === 'CREATED' && !e.starting) e.setExited({ status: 255, exitedAt: now() });
    }
    this.oom?.close();
    // a monitor removes its socket when released; one that died leaves it
    for (const q of [p, ...this.execs.values()]) await fs.rm(q.socket, { force: true });
    if (this.file.rootfsMounted) await unmountAll(join(this.bundle.path, 'rootfs'));
    return { pid: p.pid, exit_status: p.exit?.status ?? 0, exited_at: p.exit?.exitedAt ?? null };
  }
}

/**
 * runc's exec FIFO of a container, when the monitor may start the container by reading it instead
 * of running `runc start` (which does no more than that): runc only (crun starts another way), no
 * poststart hooks (a runc may run them in its start), no NOTIFY_SOCKET (runc's start then waits
 * for the container's READY). The monitor falls back to `runc start` when the FIFO is not there.
 */
function startFifoOf(runc: Runc, id: string, spec: Spec): string | undefined {
  if (basename(runc.binary) !== 'runc' || (spec.hooks?.poststart?.length ?? 0) > 0 || process.env.NOTIFY_SOCKET) return undefined;
  return join(runc.root, id, 'exec.fifo');
}

/** A small file replaced atomically; synchronous, like the bundle's own files (Bundle.create). */
async function writeJson(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, JSON.stringify(value), { mode: 0o600 });
  renameSync(tmp, path);
}

async function readJson<T>(path: string): Promise<T | undefined> {
  const text = await fs.readFile(path, 'utf8').catch(() => undefined);
  return text === undefined ? undefined : (JSON.parse(text) as T);
}

async function readPid(dir: string, name = 'pid'): Promise<number> {
  return Number.parseInt(await fs.readFile(join(dir, name), 'utf8').catch(() => ''), 10) || 0;
}

async function signal(pid: number, sig: number): Promise<void> {
  try {
    process.kill(pid, sig);
  } catch {
    // gone already
  }
}
