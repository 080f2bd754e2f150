// containerd.task.v2.Task for runc: the containers (one, or a group) this shim serves.
import { randomBytes } from 'node:crypto';
import { promises as fs, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CreateTaskRequest__Output } from '../api/gen/containerd/task/v2/CreateTaskRequest.ts';
import type { DeleteResponse } from '../api/gen/containerd/task/v2/DeleteResponse.ts';
import type { ExecProcessRequest__Output } from '../api/gen/containerd/task/v2/ExecProcessRequest.ts';
import type { KillRequest__Output } from '../api/gen/containerd/task/v2/KillRequest.ts';
import type { StateResponse } from '../api/gen/containerd/task/v2/StateResponse.ts';
import type { TaskHandlers } from '../api/gen/containerd/task/v2/Task.ts';
import type { ProcessInfo } from '../api/gen/containerd/v1/types/ProcessInfo.ts';
import { type AnyMessage, decodeAny, packAny } from '../core/any.ts';
import { BerthError } from '../core/errors.ts';
import type { OomWatcher } from '../core/runc/oom.ts';
import { type Runc, RuntimeError, type RuntimeOptions, runtimeFor, runtimeOptionsOf } from '../core/runc/runc.ts';
import { bundleFiles } from '../core/shim-contract.ts';
import { empty, timestamp, unary } from '../transport/grpc/handlers.ts';
import type { EventQueue } from './events.ts';
import { ProcessIO, type StdioConfig } from './io.ts';
import { stateDir } from './paths.ts';
import { Proc } from './process.ts';
import type { Exit, Reaper } from './reaper.ts';

// shim/console.ts, metrics.ts, oom.ts and native/mount.ts are imported on first use, off the
// path of the serving process's start-up. The small bundle files on the path of Create are read
// and written synchronously: microseconds, where a first async call (the thread pool starting)
// costs milliseconds.

interface Spec {
  process?: { terminal?: boolean };
  linux?: { cgroupsPath?: string; namespaces?: { type: string; path?: string }[] };
  annotations?: Record<string, string>;
}

class Container {
  readonly execs = new Map<string, Proc>();
  rootfsMounted = false;
  oom: OomWatcher | undefined;
  oomReported = false;
  paused = false;

  constructor(
    readonly id: string,
    readonly bundle: string,
    readonly spec: Spec,
    readonly runc: Runc,
    readonly init: Proc,
  ) {}

  get cgroupsPath(): string {
    return this.spec.linux?.cgroupsPath ?? '';
  }

  /** With its own pid namespace, the kernel kills every process of the container when init dies. */
  get ownPidNamespace(): boolean {
    return (this.spec.linux?.namespaces ?? []).some((ns) => ns.type === 'pid' && !ns.path);
  }
}

function invalid(message: string): BerthError {
  return new BerthError('InvalidArgument', message);
}

export class TaskService {
  private readonly containers = new Map<string, Container>();
  /** called when the last container is deleted or Shutdown asks for it */
  onShutdown: (now: boolean) => void = () => undefined;

  constructor(
    private readonly namespace: string,
    private readonly events: EventQueue,
    private readonly reaper: Reaper,
  ) {}

  get size(): number {
    return this.containers.size;
  }

  private container(id: string): Container {
    const c = this.containers.get(id);
    if (!c) throw new BerthError('NotFound', `container ${id}`);
    return c;
  }

  private process(id: string, execId: string): { c: Container; p: Proc } {
    const c = this.container(id);
    if (execId === '') return { c, p: c.init };
    const p = c.execs.get(execId);
    if (!p) throw new BerthError('NotFound', `process ${execId}`);
    return { c, p };
  }

  private ioEnv(id: string): Record<string, string> {
    return { CONTAINER_ID: id, CONTAINER_NAMESPACE: this.namespace };
  }

  private async runtimeOptions(req: CreateTaskRequest__Output, bundle: string): Promise<RuntimeOptions> {
    let any: AnyMessage | undefined;
    if (req.options?.type_url) any = req.options;
    else {
      let bytes: Buffer | undefined;
      try {
        bytes = readFileSync(join(bundle, bundleFiles.runtimeOptions));
      } catch {
        // none given
      }
      if (bytes && bytes.length > 0) any = decodeAny(bytes);
    }
    return runtimeOptionsOf(any);
  }

  /** A console socket for runc, when the process has a terminal. */
  private async consoleFor(terminal: boolean) {
    if (!terminal) return undefined;
    const mod = await import('./console.ts');
    const path = join(stateDir(), 's', `pty-${randomBytes(8).toString('hex')}`);
    return { mod, socket: mod.ConsoleSocket.listen(path) };
  }

  async create(req: CreateTaskRequest__Output): Promise<{ pid: number }> {
    const id = req.id;
    if (!id) throw invalid('container id is empty');
    if (this.containers.has(id)) throw new BerthError('AlreadyExists', `container ${id}`);
    if (req.checkpoint) throw new BerthError('Unimplemented', 'restoring from a checkpoint');
    const bundle = req.bundle || process.cwd();
    let spec: Spec;
    try {
      spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as Spec;
    } catch (err) {
      throw new BerthError('FailedPrecondition', `bundle ${bundle}: ${(err as Error).message}`);
    }
    const options = await this.runtimeOptions(req, bundle);
    writeFileSync(join(bundle, bundleFiles.options), JSON.stringify(options), { mode: 0o600 });
    const runc = runtimeFor(options, this.namespace, bundle, stateDir());
    const stdio: StdioConfig = { stdin: req.stdin, stdout: req.stdout, stderr: req.stderr, terminal: req.terminal };
    const init = new Proc(id, '', stdio);
    const c = new Container(id, bundle, spec, runc, init);
    // reserve the id while Create runs
    this.containers.set(id, c);
    const rootfs = join(bundle, 'rootfs');
    let tty: Awaited<ReturnType<TaskService['consoleFor']>>;
    try {
      if (req.rootfs.length > 0) {
        mkdirSync(rootfs, { recursive: true, mode: 0o711 });
        const { mountAll } = await import('../native/mount.ts');
        await mountAll(
          req.rootfs.map((m) => ({ type: m.type, source: m.source, options: m.options })),
          rootfs,
        );
        c.rootfsMounted = true;
      }
      init.io = await ProcessIO.open(stdio, bundle, this.ioEnv(id));
      tty = await this.consoleFor(req.terminal);
      const master = tty?.socket.receiveMaster();
      master?.catch(() => undefined);
      const pidFile = join(bundle, bundleFiles.initPid);
      try {
        await runc.create(id, bundle, pidFile, tty?.socket.path, init.io.runcStdio);
      } finally {
        init.io.closeChildSide();
      }
      init.pid = Number.parseInt(readFileSync(pidFile, 'utf8'), 10);
      if (tty && master) init.io.attachPty(new tty.mod.Pty(await master));
    } catch (err) {
      tty?.socket.close();
      init.io?.close();
      await runc.delete(id, true).catch(() => undefined);
      if (c.rootfsMounted) {
        const { unmountAll } = await import('../native/mount.ts');
        await unmountAll(rootfs).catch(() => undefined);
      }
      this.containers.delete(id);
      throw err;
    }
    tty?.socket.close();
    if (c.cgroupsPath) {
      try {
        const { watchOom } = await import('../core/runc/oom.ts');
        c.oom = watchOom(c.cgroupsPath, () => this.reportOom(c));
      } catch (err) {
        process.stderr.write(`berth-shim: oom watch for ${id}: ${(err as Error).message}\n`);
      }
    }
    this.events.publish('/tasks/create', 'containerd.events.TaskCreate', {
      container_id: id,
      bundle,
      rootfs: req.rootfs,
      io: { stdin: req.stdin, stdout: req.stdout, stderr: req.stderr, terminal: req.terminal },
      checkpoint: req.checkpoint,
      pid: init.pid,
    });
    // only now: an init that died already must not have its exit published before its create
    this.reaper.track(init.pid, (exit) => void this.initExited(c, exit));
    return { pid: init.pid };
  }

  private reportOom(c: Container): void {
    c.oomReported = true;
    this.events.publish('/tasks/oom', 'containerd.events.TaskOOM', { container_id: c.id });
  }

  private async initExited(c: Container, exit: Exit): Promise<void> {
    const p = c.init;
    await p.starting?.catch(() => undefined);
    if (c.oom?.check() && !c.oomReported) this.reportOom(c);
    if (!c.ownPidNamespace) {
      // with a shared pid namespace nothing else stops the execs (containerd's shim does the same)
      for (const e of c.execs.values()) {
        if (e.pid > 0 && e.status !== 'STOPPED') {
          try {
            process.kill(e.pid, 'SIGKILL');
          } catch {
            // gone already
          }
        }
      }
    }
    await p.io?.drained();
    p.setExited(exit);
    this.events.publish('/tasks/exit', 'containerd.events.TaskExit', {
      container_id: c.id,
      id: c.id,
      pid: p.pid,
      exit_status: exit.status,
      exited_at: timestamp(exit.at),
    });
  }

  private async execExited(c: Container, p: Proc, exit: Exit): Promise<void> {
    await p.starting?.catch(() => undefined);
    await p.io?.drained();
    p.setExited(exit);
    this.events.publish('/tasks/exit', 'containerd.events.TaskExit', {
      container_id: c.id,
      id: p.execId,
      pid: p.pid,
      exit_status: exit.status,
      exited_at: timestamp(exit.at),
    });
  }

  async start(id: string, execId: string): Promise<{ pid: number }> {
    const { c, p } = this.process(id, execId);
    if (p.status !== 'CREATED' || p.starting)
      throw new BerthError('FailedPrecondition', `process ${p.eventId} is ${p.starting ? 'starting' : p.status.toLowerCase()}`);
    const run = p.isInit ? this.startInit(c) : this.startExec(c, p);
    p.starting = run;
    try {
      await run;
    } finally {
      p.starting = undefined;
    }
    return { pid: p.pid };
  }

  private async startInit(c: Container): Promise<void> {
    await c.runc.start(c.id);
    if (c.init.status === 'CREATED') c.init.status = 'RUNNING';
    this.events.publish('/tasks/start', 'containerd.events.TaskStart', { container_id: c.id, pid: c.init.pid });
  }

  private async startExec(c: Container, p: Proc): Promise<void> {
    if (c.init.status === 'STOPPED') throw new BerthError('FailedPrecondition', `container ${c.id} is stopped`);
    const base = join(c.bundle, `.exec-${p.execId}`);
    const processFile = `${base}.json`;
    const pidFile = `${base}.pid`;
    await fs.writeFile(processFile, JSON.stringify(p.spec), { mode: 0o600 });
    const tty = await this.consoleFor(p.stdio.terminal);
    try {
      p.io = await ProcessIO.open(p.stdio, c.bundle, this.ioEnv(c.id));
      const master = tty?.socket.receiveMaster();
      master?.catch(() => undefined);
      try {
        await c.runc.exec(c.id, processFile, pidFile, tty?.socket.path, p.io.runcStdio);
      } finally {
        p.io.closeChildSide();
      }
      p.pid = Number.parseInt(await fs.readFile(pidFile, 'utf8'), 10);
      if (tty && master) p.io.attachPty(new tty.mod.Pty(await master));
    } catch (err) {
      p.io?.close();
      p.io = undefined;
      throw err;
    } finally {
      tty?.socket.close();
      await fs.rm(processFile, { force: true });
      await fs.rm(pidFile, { force: true });
    }
    p.status = 'RUNNING';
    this.reaper.track(p.pid, (exit) => void this.execExited(c, p, exit));
    this.events.publish('/tasks/exec-started', 'containerd.events.TaskExecStarted', { container_id: c.id, exec_id: p.execId, pid: p.pid });
  }

  async exec(req: ExecProcessRequest__Output): Promise<void> {
    const c = this.container(req.id);
    if (!req.exec_id) throw invalid('exec id is empty');
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(req.exec_id) || req.exec_id.length > 76)
      throw invalid(`exec id ${JSON.stringify(req.exec_id)} is not a valid identifier`);
    if (c.execs.has(req.exec_id)) throw new BerthError('AlreadyExists', `process ${req.exec_id}`);
    if (c.init.status === 'STOPPED') throw new BerthError('FailedPrecondition', `container ${c.id} is stopped`);
    if (!req.spec?.value) throw invalid('exec spec is empty');
    let spec: { terminal?: boolean; args?: unknown };
    try {
      spec = JSON.parse(Buffer.from(req.spec.value).toString('utf8')) as typeof spec;
    } catch (err) {
      throw invalid(`exec spec: ${(err as Error).message}`);
    }
    if (!Array.isArray(spec.args) || spec.args.length === 0) throw invalid('exec spec has no args');
    spec.terminal = req.terminal;
    const p = new Proc(c.id, req.exec_id, { stdin: req.stdin, stdout: req.stdout, stderr: req.stderr, terminal: req.terminal });
    p.spec = spec;
    c.execs.set(req.exec_id, p);
    this.events.publish('/tasks/exec-added', 'containerd.events.TaskExecAdded', { container_id: c.id, exec_id: req.exec_id });
  }

  async kill(req: KillRequest__Output): Promise<void> {
    const { c, p } = this.process(req.id, req.exec_id);
    if (p.status === 'STOPPED') throw new BerthError('NotFound', 'process already finished');
    if (p.isInit) {
      try {
        await c.runc.kill(c.id, req.signal, req.all);
      } catch (err) {
        if (err instanceof RuntimeError && /not running|no such process|container does not exist|not exist/i.test(err.runtimeMessage)) {
          throw new BerthError('NotFound', 'process already finished');
        }
        throw err;
      }
      return;
    }
    if (p.pid === 0) throw new BerthError('FailedPrecondition', `process ${p.execId} is not started`);
    try {
      process.kill(p.pid, req.signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') throw new BerthError('NotFound', 'process already finished');
      throw err;
    }
  }

  async delete(id: string, execId: string): Promise<DeleteResponse> {
    const { c, p } = this.process(id, execId);
    if (p.status === 'RUNNING' || p.starting) {
      throw new BerthError('FailedPrecondition', `cannot delete a ${c.paused ? 'paused' : 'running'} process`);
    }
    if (!p.isInit) {
      c.execs.delete(execId);
      p.io?.close();
      const exit = p.exit;
      return { pid: p.pid, exit_status: exit?.status ?? 0, exited_at: timestamp(exit?.at) };
    }
    try {
      await c.runc.delete(c.id, true);
    } catch (err) {
      // already gone from the runtime (deleted behind our back): what we wanted
      if (!(err instanceof RuntimeError && /does not exist|not found/i.test(err.runtimeMessage))) throw err;
    }
    if (p.status === 'CREATED') {
      // runc killed the waiting init: collect its exit like any other
      await Promise.race([p.wait(), new Promise((r) => setTimeout(r, 5000))]);
    }
    for (const e of c.execs.values()) {
      e.io?.close();
      // an exec that never started will not: release its Waits
      if (e.status === 'CREATED' && !e.starting) e.setExited({ status: 255, at: Date.now() });
    }
    p.io?.close();
    c.oom?.close();
    if (c.rootfsMounted) {
      const { unmountAll } = await import('../native/mount.ts');
      await unmountAll(join(c.bundle, 'rootfs'));
      c.rootfsMounted = false;
    }
    this.containers.delete(id);
    const exit = p.exit;
    const res = { pid: p.pid, exit_status: exit?.status ?? 0, exited_at: timestamp(exit?.at) };
    this.events.publish('/tasks/delete', 'containerd.events.TaskDelete', { container_id: c.id, ...res, id: c.id });
    return res;
  }

  state(id: string, execId: string): StateResponse {
    const { c, p } = this.process(id, execId);
    return {
      id: c.id,
      bundle: c.bundle,
      pid: p.pid,
      status: p.isInit && p.status === 'RUNNING' && c.paused ? 'PAUSED' : p.status,
      stdin: p.stdio.stdin,
      stdout: p.stdio.stdout,
      stderr: p.stdio.stderr,
      terminal: p.stdio.terminal,
      exit_status: p.exit?.status ?? 0,
      exited_at: timestamp(p.exit?.at),
      exec_id: p.execId,
    };
  }

  async pause(id: string): Promise<void> {
    const c = this.container(id);
    if (c.init.status !== 'RUNNING' || c.paused) throw new BerthError('FailedPrecondition', `container ${id} is not running`);
    await c.runc.pause(id);
    c.paused = true;
    this.events.publish('/tasks/paused', 'containerd.events.TaskPaused', { container_id: id });
  }

  async resume(id: string): Promise<void> {
    const c = this.container(id);
    if (!c.paused || c.init.status === 'STOPPED') throw new BerthError('FailedPrecondition', `container ${id} is not paused`);
    await c.runc.resume(id);
    c.paused = false;
    this.events.publish('/tasks/resumed', 'containerd.events.TaskResumed', { container_id: id });
  }

  async pids(id: string): Promise<ProcessInfo[]> {
    const c = this.container(id);
    const pids = await c.runc.ps(id);
    const execOf = new Map<number, string>();
    for (const e of c.execs.values()) if (e.pid > 0) execOf.set(e.pid, e.execId);
    return pids.map((pid) => {
      const execId = execOf.get(pid);
      return { pid, info: execId ? packAny('containerd.runc.v1.ProcessDetails', { exec_id: execId }) : null };
    });
  }

  async update(id: string, resources: AnyMessage | null): Promise<void> {
    const c = this.container(id);
    if (!resources?.value || resources.value.length === 0) throw invalid('resources are empty');
    if (c.init.status === 'STOPPED') throw new BerthError('NotFound', 'process already finished');
    await c.runc.update(id, Buffer.from(resources.value));
  }

  async stats(id: string): Promise<AnyMessage> {
    const c = this.container(id);
    if (!c.cgroupsPath) throw new BerthError('NotFound', `container ${id} has no cgroup`);
    const { taskMetrics } = await import('../core/runc/metrics.ts');
    return taskMetrics(c.cgroupsPath);
  }

  handlers(): TaskHandlers {
    return {
      State: unary(async (req) => this.state(req.id, req.exec_id)),
      Create: unary(async (req) => this.create(req)),
      Start: unary(async (req) => this.start(req.id, req.exec_id)),
      Delete: unary(async (req) => this.delete(req.id, req.exec_id)),
      Pids: unary(async (req) => ({ processes: await this.pids(req.id) })),
      Pause: unary(async (req) => {
        await this.pause(req.id);
        return empty;
      }),
      Resume: unary(async (req) => {
        await this.resume(req.id);
        return empty;
      }),
      Checkpoint: unary(async () => {
        throw new BerthError('Unimplemented', 'checkpoint');
      }),
      Kill: unary(async (req) => {
        await this.kill(req);
        return empty;
      }),
      Exec: unary(async (req) => {
        await this.exec(req);
        return empty;
      }),
      ResizePty: unary(async (req) => {
        const { p } = this.process(req.id, req.exec_id);
        p.io?.pty?.resize(req.width, req.height);
        return empty;
      }),
      CloseIO: unary(async (req) => {
        const { p } = this.process(req.id, req.exec_id);
        if (req.stdin) p.io?.closeStdin();
        return empty;
      }),
      Update: unary(async (req) => {
        await this.update(req.id, req.resources);
        return empty;
      }),
      Wait: unary(async (req) => {
        const { p } = this.process(req.id, req.exec_id);
        const exit = await p.wait();
        return { exit_status: exit.status, exited_at: timestamp(exit.at) };
      }),
      Stats: unary(async (req) => ({ stats: await this.stats(req.id) })),
      Connect: unary(async (req) => ({ shim_pid: process.pid, task_pid: this.containers.get(req.id)?.init.pid ?? 0, version: 'berth' })),
      Shutdown: unary(async (req) => {
        if (req.now || this.containers.size === 0) setImmediate(() => this.onShutdown(req.now));
        return empty;
      }),
    };
  }
}
