import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TtrpcEvents } from '../../api/services.ts';
import { fromTimestamp, toTimestamp } from '../../api/timestamp.ts';
import type { AnyMessage } from '../../core/any.ts';
import { alreadyExists, invalidArgument, notFound } from '../../core/errors.ts';
import type { Mount } from '../../core/mount.ts';
import { Mutex } from '../../core/mutex.ts';
import { runtimeOptionsOf } from '../../core/runc/runc.ts';
import { socketPathOf } from '../../transport/ttrpc/client.ts';
import { TtrpcServer } from '../../transport/ttrpc/server.ts';
import type { Exchange } from '../events/exchange.ts';
import type { Logger } from '../log.ts';
import { Bundle } from './bundle.ts';
import type { TaskHooks } from './hooks.ts';
import { WaitingMonitor } from './monitor/index.ts';
import { type RuncContext, RuncTask } from './runc/task.ts';
import { openShimLog, type ShimInvocation, type ShimLink, shimDelete, startShim } from './shim.ts';
import { resolveShimBinary } from './shim-binary.ts';
import { ShimTask } from './shim-task.ts';
import type { ExitStatus, RuntimeTask } from './task.ts';
import { TtrpcShimConnection } from './ttrpc-shim.ts';

/** What the runtime needs from a container record. */
export interface ContainerForTask {
  id: string;
  labels: Record<string, string>;
  runtime: { name: string; options?: AnyMessage | null };
  spec: AnyMessage;
}

export interface CreateOptions {
  rootfs: Mount[];
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
  /** task options; when unset the container's runtime options go to the shim */
  options?: AnyMessage | null;
  /** a container log in the CRI format (berthd's own runc tasks only; see daemon/logs) */
  log?: { path: string; maxSize: number; maxFiles: number; maxLine?: number };
  /**
   * The caller starts the task right after creating it: berthd's own runc tasks then start at
   * once (the monitor does not wait to be asked), and the Start only waits for that. Other
   * runtimes start on the Start as always.
   */
  startNext?: boolean;
  /** a monitor spawned ahead for this task (waitingMonitor); the caller abandons it if it goes unused */
  monitor?: WaitingMonitor;
}

export interface RuntimeSettings {
  root: string;
  state: string;
  daemonAddress: string;
  /** runtime name → shim binary path, from [plugins."io.containerd.runtime.v2.task".shims] */
  shims: Record<string, string>;
}

const packageBin = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin');

/**
 * The v2 runtime: runs io.containerd.runc.v2 tasks itself (RuncTask: runc and a monitor per
 * process) and any other runtime under a ttrpc shim (one per task, or the group's), keeps the
 * daemon's view of running tasks, finds them again after a restart, and cleans up after monitors
 * and shims that died. Everything it needs to rebuild that view is on disk, in the bundles.
 */
export class TaskManager {
  private readonly tasks = new Map<string, ShimTask | RuncTask>();
  private eventServer: TtrpcServer | undefined;
  /** the reader of each shim task's `log` fifo, by bundle path */
  private readonly shimLogs = new Map<string, { close(): void }>();
  /** what the tasks berthd runs through runc itself share */
  private readonly runc: RuncContext;
  private readonly shims = new Map<string, ShimLink>();
  /** connections whose last task is gone, kept until their shim exits (or a new task revives one) */
  private readonly retiring = new Map<string, ShimLink>();
  private readonly locks = new Map<string, Mutex>();
  /** a monitor spawned ahead of need, waiting for its arguments (see waitingMonitor) */
  private spare: WaitingMonitor | undefined;
  private spareTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly settings: RuntimeSettings,
    private readonly exchange: Exchange,
    private readonly log: Logger,
    private readonly hooks?: TaskHooks,
  ) {
    this.runc = {
      state: settings.state,
      exchange,
      log,
      socketPath: (ns, id, execId) => join(settings.state, 'm', createHash('sha256').update(`${ns}/${id}/${execId}`).digest('hex').slice(0, 32)),
      lost: (task, exit) => void this.runcLost(task, exit),
    };
  }

  /** Serves containerd's ttrpc events API on `<address>.ttrpc`, where ttrpc shims publish their events (TTRPC_ADDRESS). */
  async listenEvents(): Promise<void> {
    const server = new TtrpcServer().register(TtrpcEvents, {
      Forward: async (req) => {
        const e = req.envelope;
        if (!e?.event?.type_url) throw invalidArgument('an event envelope needs an event');
        this.exchange.forward({ timestamp: fromTimestamp(e.timestamp) ?? Date.now(), namespace: e.namespace, topic: e.topic, event: e.event as AnyMessage });
        return {};
      },
    });
    await server.listen(`${socketPathOf(this.settings.daemonAddress)}.ttrpc`);
    this.eventServer = server;
  }

  private key = (ns: string, id: string) => `${ns}/${id}`;

  private lock<T>(ns: string, id: string, fn: () => Promise<T>): Promise<T> {
    const k = this.key(ns, id);
    let m = this.locks.get(k);
    if (!m) this.locks.set(k, (m = new Mutex()));
    const mutex = m;
    // one lock per task while it is used: a daemon that has seen many ids keeps none of theirs
    return mutex.run(fn).finally(() => {
      if (mutex.idle && this.locks.get(k) === mutex) this.locks.delete(k);
    });
  }

  private invocation(bundle: Bundle, binary: string): ShimInvocation {
    return {
      binary,
      namespace: bundle.namespace,
      id: bundle.id,
      bundle: bundle.path,
      daemonAddress: this.settings.daemonAddress,
      publishBinary: join(packageBin, 'berthd'),
    };
  }

  get(ns: string, id: string): RuntimeTask {
    return this.record(ns, id);
  }

  private record(ns: string, id: string): ShimTask | RuncTask {
    const t = this.tasks.get(this.key(ns, id));
    if (!t) throw notFound(`task ${id} not found`);
    return t;
  }

  has(ns: string, id: string): boolean {
    return this.tasks.has(this.key(ns, id));
  }

  /** Whether a task of this runtime writes CreateOptions.log (berthd runs it: runc and a monitor); a shim's does not. */
  writesLogs(runtime: string): boolean {
    return this.drivesRunc(runtime);
  }

  list(ns: string): RuntimeTask[] {
    return [...this.tasks.values()].filter((t) => t.namespace === ns).sort((a, b) => a.id.localeCompare(b.id));
  }

  /**
   * A monitor for a task of `runtime` about to be created (CreateOptions.monitor), already
   * started: the spare one kept waiting, else one spawned now. Its spawn and start then cost the
   * create nothing. The caller asks for the next spare (keepSpare) once its run is over, so that
   * the spawn stays off the path of this one. Undefined when the runtime runs under a shim, or
   * when the spawn failed (the create spawns one as usual then).
   */
  waitingMonitor(runtime: string): WaitingMonitor | undefined {
    if (!this.drivesRunc(runtime)) return undefined;
    const spare = this.spare;
    this.spare = undefined;
    // none was ready (the first run, or runs close together): one later all the same
    if (!spare) this.keepSpare(runtime, 1000);
    return spare ?? this.spawnWaiting();
  }

  /** Spawns the spare waiting monitor for `runtime`'s tasks soon, unless one is there or on its way. */
  keepSpare(runtime: string, delayMs = 100): void {
    if (!this.drivesRunc(runtime) || this.spare || this.spareTimer) return;
    this.spareTimer = setTimeout(() => {
      this.spareTimer = undefined;
      this.spare ??= this.spawnWaiting();
    }, delayMs);
    this.spareTimer.unref();
  }

  private spawnWaiting(): WaitingMonitor | undefined {
    try {
      return new WaitingMonitor();
    } catch (err) {
      this.log.warn('cannot start a monitor ahead', { error: (err as Error).message });
      return undefined;
    }
  }

  /** berthd runs io.containerd.runc.v2 itself (runc and a monitor per process) unless a shim is configured for it. */
  private drivesRunc(runtime: string): boolean {
    return runtime === 'io.containerd.runc.v2' && !this.settings.shims[runtime];
  }

  /** A new bundle for a task; one left behind by a daemon stopped in the middle of a Create is cleaned up first. */
  private async newBundle(ns: string, container: ContainerForTask, binary: string | undefined): Promise<Bundle> {
    const bundle = Bundle.at(this.settings.state, this.settings.root, ns, container.id);
    try {
      await bundle.create(container.spec.value);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // no task has this bundle (checked by the caller, under the task's lock): a daemon stopped
      // in the middle of a Create, or an earlier cleanup failed. Clean it up and carry on.
      this.log.warn('removing a task bundle left behind', { namespace: ns, id: container.id });
      await this.removeLeftover(bundle, binary);
      try {
        await bundle.create(container.spec.value);
      } catch (again) {
        if ((again as NodeJS.ErrnoException).code === 'EEXIST') throw alreadyExists(`task ${container.id}`);
        throw again;
      }
    }
    return bundle;
  }

  async create(ns: string, container: ContainerForTask, opts: CreateOptions): Promise<RuntimeTask> {
    return this.lock(ns, container.id, async () => {
      if (this.tasks.has(this.key(ns, container.id))) throw alreadyExists(`task ${container.id}`);
      if (!this.hooks) return this.createTask(ns, container, opts);
      const spec = await this.hooks.prepare(ns, container);
      const prepared = spec ? { ...container, spec: { type_url: container.spec.type_url, value: spec } } : container;
      try {
        return await this.createTask(ns, prepared, opts);
      } catch (err) {
        await this.release(ns, container.id);
        throw err;
      }
    });
  }

  /** Tells the hooks that a task went away (never throws: they log what they cannot undo). */
  private async release(ns: string, id: string): Promise<void> {
    await this.hooks?.released(ns, id).catch((err: Error) => this.log.warn('cannot release a task', { namespace: ns, id, error: err.message }));
  }

  /** Creates the task, its bundle written with `container`'s spec; the caller holds the task's lock. */
  private async createTask(ns: string, container: ContainerForTask, opts: CreateOptions): Promise<RuntimeTask> {
    if (this.drivesRunc(container.runtime.name)) return this.createRunc(ns, container, opts);
    const binary = resolveShimBinary(container.runtime.name, this.settings.shims);
    const bundle = await this.newBundle(ns, container, binary);
    const inv = this.invocation(bundle, binary);
    this.openShimLog(bundle);
    let conn: ShimLink | undefined;
    // the bootstrap write and the shim's Create run side by side; a failure waits for both
    let inFlight: Promise<unknown>[] = [];
    try {
      const options = opts.options?.type_url ? opts.options : container.runtime.options;
      const address = await startShim(inv, options);
      // bootstrap.json (how a restarted daemon finds the shim) is written while the shim creates
      // the container; the task is registered only once both are done
      const bootstrapped = bundle.writeBootstrap(address, 'ttrpc', binary);
      conn = this.connection(address, ns);
      const creating = conn.client.task.Create({
        id: container.id,
        bundle: bundle.path,
        rootfs: opts.rootfs.map((m) => ({ ...m, options: [...m.options] })),
        terminal: opts.terminal,
        stdin: opts.stdin,
        stdout: opts.stdout,
        stderr: opts.stderr,
        options,
      });
      const connecting = conn.client.task.Connect({ id: container.id }, { timeoutMs: 5000 });
      inFlight = [bootstrapped, creating, connecting];
      const [created] = await Promise.all([creating, bootstrapped]);
      conn.shimPid = (await connecting).shim_pid;
      const task = this.register(ns, container.id, bundle, conn, created.pid, container.runtime.name);
      conn.pump();
      return task;
    } catch (err) {
      await Promise.allSettled(inFlight);
      await this.abandon(inv, bundle, conn, container.id);
      throw err;
    }
  }

  private async createRunc(ns: string, container: ContainerForTask, opts: CreateOptions): Promise<RuntimeTask> {
    const bundle = await this.newBundle(ns, container, undefined);
    try {
      const options = runtimeOptionsOf(opts.options?.type_url ? opts.options : container.runtime.options);
      const stdio = { stdin: opts.stdin, stdout: opts.stdout, stderr: opts.stderr, terminal: opts.terminal, ...(opts.log ? { log: opts.log } : {}) };
      const task = await RuncTask.create(this.runc, bundle, container.runtime.name, options, container.spec.value, opts.rootfs, stdio, {
        startNow: opts.startNext,
        monitor: opts.monitor,
      });
      this.tasks.set(this.key(ns, container.id), task);
      return task;
    } catch (err) {
      await this.removeBundle(bundle);
      throw err;
    }
  }

  /** A runc task whose init's monitor died: it was cleaned up and its exit reported; the task goes. */
  private async runcLost(task: RuncTask, exit: ExitStatus): Promise<void> {
    await this.lock(task.namespace, task.id, async () => {
      if (this.tasks.get(this.key(task.namespace, task.id)) !== task) return;
      this.tasks.delete(this.key(task.namespace, task.id));
      await this.removeBundle(task.bundle);
      this.exchange.publish(task.namespace, '/tasks/delete', 'containerd.events.TaskDelete', { container_id: task.id, ...exit, id: task.id });
      await this.release(task.namespace, task.id);
    });
  }

  /** Removes a task's bundle (a failure is logged): the shim's log fifo is closed first. */
  private async removeBundle(bundle: Bundle): Promise<void> {
    this.closeShimLog(bundle);
    await bundle.remove().catch((err: Error) => this.log.warn('cannot remove bundle', { bundle: bundle.path, error: err.message }));
  }

  /** Reads what the shim of a bundle logs to its `log` fifo (a containerd shim does not start without a reader). */
  private openShimLog(bundle: Bundle): void {
    if (this.shimLogs.has(bundle.path)) return;
    try {
      this.shimLogs.set(bundle.path, openShimLog(bundle.path, this.log, { namespace: bundle.namespace, id: bundle.id }));
    } catch (err) {
      this.log.warn('cannot open the shim log fifo', { bundle: bundle.path, error: (err as Error).message });
    }
  }

  private closeShimLog(bundle: Bundle): void {
    this.shimLogs.get(bundle.path)?.close();
    this.shimLogs.delete(bundle.path);
  }

  /** Undoes a task creation that failed half-way: the shim (if it runs) and the bundle go. */
  private async abandon(inv: ShimInvocation, bundle: Bundle, conn: ShimLink | undefined, id: string): Promise<void> {
    if (conn) {
      await conn.client.task.Delete({ id }, { timeoutMs: 10_000 }).catch(() => undefined);
      await conn.client.task.Shutdown({ id, now: conn.tasks.size === 0 }, { timeoutMs: 3000 }).catch(() => undefined);
      this.closeIfIdle(conn);
    }
    await shimDelete(inv).catch(() => undefined);
    await this.removeBundle(bundle);
  }

  /**
   * Removes a bundle that no task owns: a runc task's container and monitors go, or its shim (if
   * one still serves it) and what the shim's `delete` cleans up; then the bundle.
   */
  private async removeLeftover(bundle: Bundle, binary: string | undefined): Promise<void> {
    if (await RuncTask.removeLeftover(this.runc, bundle)) return;
    const boot = await this.stopStrayShim(bundle);
    const shim = boot?.binary ?? binary;
    if (shim) {
      await shimDelete(this.invocation(bundle, shim)).catch((err: Error) => this.log.warn('shim delete failed', { id: bundle.id, error: err.message }));
    }
    // Bundle.remove unmounts rootfs before it removes anything
    this.closeShimLog(bundle);
    await bundle.remove();
  }

  /**
   * Tells a shim that may still serve a bundle no task owns to delete the container and exit (at
   * once, unless it also serves tasks berthd knows: nobody will take its events).
   */
  private async stopStrayShim(bundle: Bundle): Promise<Awaited<ReturnType<Bundle['readBootstrap']>> | undefined> {
    const boot = await bundle.readBootstrap().catch(() => undefined);
    const shim = boot?.address ?? (await bundle.shimAddress());
    if (shim) {
      const link = this.oneOff(shim, bundle.namespace);
      try {
        await link.client.task.Delete({ id: bundle.id, exec_id: '' }, { timeoutMs: 10_000 }).catch(() => undefined);
        await link.client.task.Shutdown({ id: bundle.id, now: !this.shims.has(shim) }, { timeoutMs: 3000 }).catch(() => undefined);
      } finally {
        link.close();
      }
    }
    return boot;
  }

  /** The link to the shim at `address`: the one berthd has (or is retiring), or a new one. */
  private connection(address: string, ns: string): ShimLink {
    let conn = this.shims.get(address);
    if (!conn) {
      const retired = this.retiring.get(address);
      this.retiring.delete(address);
      conn = retired?.revive() ? retired : new TtrpcShimConnection(address, ns, this.log, (c) => void this.shimDied(c));
      this.shims.set(address, conn);
    }
    return conn;
  }

  /** A link to a shim for a call or two, outside the daemon's bookkeeping; the caller closes it. */
  private oneOff(address: string, ns: string): ShimLink {
    return new TtrpcShimConnection(address, ns, this.log, () => undefined);
  }

  private register(ns: string, id: string, bundle: Bundle, conn: ShimLink, pid: number, runtime: string): ShimTask {
    const task = new ShimTask(ns, id, bundle, conn, pid, runtime);
    conn.tasks.add(id);
    this.tasks.set(this.key(ns, id), task);
    return task;
  }

  private forget(task: ShimTask): void {
    this.tasks.delete(this.key(task.namespace, task.id));
    task.shim.tasks.delete(task.id);
    if (task.shim.tasks.size === 0) {
      const conn = task.shim;
      this.shims.delete(conn.address);
      this.retiring.set(conn.address, conn);
      conn.retire(() => {
        if (this.retiring.get(conn.address) === conn) this.retiring.delete(conn.address);
      });
    }
  }

  /** Deletes a task whose init process has exited: the shim reports its exit, then the bundle goes. */
  async delete(ns: string, id: string): Promise<ExitStatus> {
    return this.lock(ns, id, async () => {
      const task = this.record(ns, id);
      if (task instanceof RuncTask) {
        const res = await task.delete();
        this.tasks.delete(this.key(ns, id));
        await this.removeBundle(task.bundle);
        await this.release(ns, id);
        return res;
      }
      const res = await task.shim.client.task.Delete({ id, exec_id: '' });
      this.forget(task);
      // the shim exits once its last events are delivered; its bundle is not needed for that
      await Promise.all([task.shim.client.task.Shutdown({ id, now: false }, { timeoutMs: 3000 }).catch(() => undefined), this.removeBundle(task.bundle)]);
      await this.release(ns, id);
      return res;
    });
  }

  /** The shim serving a task is gone: clean up as containerd does, and report the task's end. */
  private async shimDied(conn: ShimLink): Promise<void> {
    this.shims.delete(conn.address);
    const dead = [...this.tasks.values()].filter((t) => t instanceof ShimTask && t.shim === conn) as ShimTask[];
    for (const task of dead) {
      await this.lock(task.namespace, task.id, async () => {
        if (this.tasks.get(this.key(task.namespace, task.id)) !== task) return;
        this.log.warn('shim died; cleaning up its task', { namespace: task.namespace, id: task.id });
        await this.cleanupDead(task.namespace, task.id, task.bundle, task.runtime, task.pid, task);
      });
    }
  }

  private async cleanupDead(ns: string, id: string, bundle: Bundle, runtime: string | undefined, pid: number, task?: ShimTask): Promise<void> {
    const boot = await bundle.readBootstrap().catch(() => undefined);
    let binary: string | undefined;
    try {
      binary = boot?.binary ?? (runtime ? resolveShimBinary(runtime, this.settings.shims) : undefined);
    } catch {
      binary = undefined;
    }
    // a shim removes its socket when it shuts down, not when it is killed
    if (boot) await fs.rm(socketPathOf(boot.address), { force: true });
    let result: ExitStatus = { pid, exit_status: 255, exited_at: toTimestamp(Date.now()) };
    if (binary) {
      try {
        const r = await shimDelete(this.invocation(bundle, binary));
        result = { pid: r.pid || pid, exit_status: r.exit_status, exited_at: r.exited_at ?? toTimestamp(Date.now()) };
      } catch (err) {
        this.log.warn('shim delete failed', { id, error: (err as Error).message });
      }
    }
    await this.removeBundle(bundle);
    if (task) {
      this.tasks.delete(this.key(ns, id));
      task.ended(result);
    }
    const exitedAt = result.exited_at ?? toTimestamp(Date.now());
    this.exchange.publish(ns, '/tasks/exit', 'containerd.events.TaskExit', {
      container_id: id,
      id,
      pid: result.pid,
      exit_status: result.exit_status,
      exited_at: exitedAt,
    });
    this.exchange.publish(ns, '/tasks/delete', 'containerd.events.TaskDelete', {
      container_id: id,
      pid: result.pid,
      exit_status: result.exit_status,
      exited_at: exitedAt,
    });
    // after the events: what the task held outside its bundle (its network) goes last, still under its lock
    await this.release(ns, id);
  }

  /**
   * After a daemon restart: a runc task's bundle (task.json) with a container record is followed
   * again through its monitors (RuncTask.restore); one without a record is left alone with a
   * warning. For every other bundle: reconnect to its shim, found through bootstrap.json or, when berthd died in the middle of Create before
   * writing it, through the address the shim wrote (bootstrap.json is written then). A bundle is
   * removed, and its task reported as exited, only when nothing of it runs any more: its shim
   * does not answer and the container's init is gone. A bundle whose shim answers but that has
   * no container record (another daemon's, or this one started on the wrong root), or whose
   * container outlived its shim, is left alone with a warning. A shim that answers for a bundle
   * without bootstrap.json but has no container in it (the Create never reached it) is stopped.
   */
  async restore(containerRuntime: (ns: string, id: string) => Promise<string | undefined>): Promise<void> {
    await fs.mkdir(join(this.settings.state, 'm'), { recursive: true, mode: 0o700 });
    const bundles = await Bundle.list(this.settings.state, this.settings.root);
    const started = new Set<ShimLink>();
    const unfinished: Array<{ bundle: Bundle; runtime: string }> = [];
    /** bundles that may still run a container berthd cannot follow: what the hooks hold for them stays */
    const leftAlone = new Set<string>();
    for (const bundle of bundles) {
      const task = { namespace: bundle.namespace, id: bundle.id };
      const runtime = await containerRuntime(bundle.namespace, bundle.id).catch(() => undefined);
      if (await RuncTask.isRuncBundle(bundle)) {
        if (!runtime) {
          this.log.warn('leaving alone a task bundle that has no container record', { ...task, bundle: bundle.path });
          leftAlone.add(this.key(bundle.namespace, bundle.id));
          continue;
        }
        const restored = await RuncTask.restore(this.runc, bundle).catch((err: Error) => {
          this.log.warn('cannot restore a task', { ...task, error: err.message });
          leftAlone.add(this.key(bundle.namespace, bundle.id));
          return undefined;
        });
        if (restored) {
          this.tasks.set(this.key(bundle.namespace, bundle.id), restored);
          this.log.info('reconnected to task', { ...task, pid: restored.pid });
          await restored.settleRestored();
        }
        continue;
      }
      const boot = await bundle.readBootstrap().catch(() => undefined);
      const shim = boot?.address ?? (await bundle.shimAddress());
      if (runtime && shim) {
        const conn = this.connection(shim, bundle.namespace);
        const connected = await conn.client.task.Connect({ id: bundle.id }, { timeoutMs: 5000 }).catch((err: Error) => {
          this.log.warn('shim of a task does not answer', { ...task, error: err.message });
          this.closeIfIdle(conn);
          return undefined;
        });
        if (connected && !boot && connected.task_pid === 0) {
          // berthd died before the shim created the container: the Create never happened
          this.closeIfIdle(conn);
          unfinished.push({ bundle, runtime });
          continue;
        }
        if (connected) {
          this.openShimLog(bundle);
          conn.shimPid = connected.shim_pid;
          this.register(bundle.namespace, bundle.id, bundle, conn, connected.task_pid, runtime);
          started.add(conn);
          this.log.info('reconnected to task', { ...task, pid: connected.task_pid });
          if (!boot) {
            await bundle
              .writeBootstrap(shim, 'ttrpc', resolveShimBinary(runtime, this.settings.shims))
              .catch((err: Error) => this.log.warn('cannot write bootstrap.json', { ...task, error: err.message }));
          }
          continue;
        }
      } else if (shim && (await this.shimAnswers(shim, bundle))) {
        this.log.warn('leaving alone a task bundle whose shim runs but that has no container record', { ...task, bundle: bundle.path });
        leftAlone.add(this.key(bundle.namespace, bundle.id));
        continue;
      }
      const init = await bundle.liveInitPid();
      if (init) {
        this.log.warn('leaving alone a task bundle whose container process outlived its shim', { ...task, bundle: bundle.path, pid: init });
        leftAlone.add(this.key(bundle.namespace, bundle.id));
        continue;
      }
      this.log.info(runtime && boot ? 'cleaning up a task whose shim is gone' : 'removing a task bundle left behind', task);
      await this.cleanupDead(bundle.namespace, bundle.id, bundle, runtime, 0);
    }
    // once every kept task is registered: a group shim that serves one of them stays
    for (const { bundle, runtime } of unfinished) {
      this.log.info('removing the bundle of a task create that never finished', { namespace: bundle.namespace, id: bundle.id });
      await this.stopStrayShim(bundle);
      await this.cleanupDead(bundle.namespace, bundle.id, bundle, runtime, 0);
    }
    for (const conn of started) conn.pump();
    await this.sweep(leftAlone);
  }

  /** Releases what the hooks hold for tasks that are gone (they went while berthd was away). */
  private async sweep(leftAlone: Set<string>): Promise<void> {
    for (const { namespace, id } of this.hooks?.held() ?? []) {
      if (leftAlone.has(this.key(namespace, id))) continue;
      await this.lock(namespace, id, async () => {
        if (this.tasks.has(this.key(namespace, id))) return;
        this.log.info('releasing what a task that is gone left behind', { namespace, id });
        await this.release(namespace, id);
      });
    }
  }

  /** Closes a connection that serves no task (it stays while a group shim serves others). */
  private closeIfIdle(conn: ShimLink): void {
    if (conn.tasks.size > 0) return;
    conn.close();
    this.shims.delete(conn.address);
  }

  private async shimAnswers(address: string, bundle: Bundle): Promise<boolean> {
    const link = this.oneOff(address, bundle.namespace);
    try {
      return await link.client.task.Connect({ id: bundle.id }, { timeoutMs: 5000 }).then(
        () => true,
        () => false,
      );
    } finally {
      link.close();
    }
  }

  close(): void {
    void this.eventServer?.close();
    for (const conn of [...this.shims.values(), ...this.retiring.values()]) conn.close();
    this.shims.clear();
    this.retiring.clear();
  }
}
