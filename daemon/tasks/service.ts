import type { TasksHandlers } from '../../api/gen/containerd/services/tasks/v1/Tasks.ts';
import type { Process } from '../../api/gen/containerd/v1/types/Process.ts';
import { Tasks } from '../../api/services.ts';
import { toTimestamp } from '../../api/timestamp.ts';
import type { AnyMessage } from '../../core/any.ts';
import { invalidArgument, isCode, unimplemented } from '../../core/errors.ts';
import { validateIdentifier } from '../../core/identifiers.ts';
import { parseFilters } from '../filters.ts';
import { type AnyCall, empty, namespaceOf, unary } from '../grpc.ts';
import type { GrpcService } from '../plugin.ts';
import type { ContainerForTask, CreateOptions, TaskManager } from '../runtime/manager.ts';
import type { ProcessState } from '../runtime/task.ts';

/** How the tasks service finds the container a task belongs to. */
export interface ContainerLookup {
  /** the container, and the log its task keeps (if its labels ask for one) */
  get(namespace: string, id: string): Promise<ContainerForTask & { log?: CreateOptions['log'] }>;
}

/**
 * containerd.services.tasks.v1.Tasks over the v2 runtime: each call goes to the shim of the
 * task, which owns the process; this service only finds the shim and checks the request.
 */
export function tasksService(manager: TaskManager, containers: ContainerLookup): GrpcService {
  const process = (containerId: string, s: ProcessState): Process => ({
    id: s.exec_id || containerId,
    pid: s.pid,
    status: s.status,
    stdin: s.stdin,
    stdout: s.stdout,
    stderr: s.stderr,
    terminal: s.terminal,
    exit_status: s.exit_status,
    exited_at: s.exited_at,
  });
  const task = (call: AnyCall, id: string) => manager.get(namespaceOf(call), id);

  const handlers: TasksHandlers = {
    Create: unary(async (req, call) => {
      const ns = namespaceOf(call);
      if (req.checkpoint?.digest) throw unimplemented('checkpoint restore is not supported');
      const container = await containers.get(ns, req.container_id);
      const task = await manager.create(ns, container, {
        rootfs: req.rootfs.map((m) => ({ type: m.type, source: m.source, target: m.target, options: m.options })),
        stdin: req.stdin,
        stdout: req.stdout,
        stderr: req.stderr,
        terminal: req.terminal,
        options: req.options as AnyMessage | null,
        log: container.log,
      });
      return { container_id: req.container_id, pid: task.pid };
    }),
    Start: unary(async (req, call) => {
      const res = await task(call, req.container_id).start(req.exec_id);
      return { pid: res.pid };
    }),
    Delete: unary(async (req, call) => {
      const res = await manager.delete(namespaceOf(call), req.container_id);
      return { id: '', pid: res.pid, exit_status: res.exit_status, exited_at: res.exited_at };
    }),
    DeleteProcess: unary(async (req, call) => {
      if (!req.exec_id) throw invalidArgument('exec id is required to delete a process; use Delete for the task');
      const res = await task(call, req.container_id).deleteProcess(req.exec_id);
      return { id: req.exec_id, pid: res.pid, exit_status: res.exit_status, exited_at: res.exited_at };
    }),
    Get: unary(async (req, call) => {
      const s = await task(call, req.container_id).state(req.exec_id);
      return { process: process(req.container_id, s) };
    }),
    List: unary(async (req, call) => {
      const ns = namespaceOf(call);
      const match = parseFilters(req.filter ? [req.filter] : []);
      const tasks = [];
      for (const t of manager.list(ns)) {
        const s = await t.state('', 5000).catch(() => undefined);
        if (!s) continue;
        const p = process(t.id, s);
        if (match((path) => (path[0] === 'id' ? t.id : path[0] === 'status' ? s.status.toLowerCase() : path[0] === 'runtime' ? t.runtime : undefined)))
          tasks.push(p);
      }
      return { tasks };
    }),
    Kill: unary(async (req, call) => {
      await task(call, req.container_id).kill(req.exec_id, req.signal, req.all);
      return empty;
    }),
    Exec: unary(async (req, call) => {
      if (!req.exec_id) throw invalidArgument('exec id must not be empty');
      validateIdentifier(req.exec_id);
      if (!req.spec?.type_url) throw invalidArgument('exec spec must be set');
      await task(call, req.container_id).exec(req.exec_id, {
        terminal: req.terminal,
        stdin: req.stdin,
        stdout: req.stdout,
        stderr: req.stderr,
        spec: req.spec,
      });
      return empty;
    }),
    ResizePty: unary(async (req, call) => {
      await task(call, req.container_id).resizePty(req.exec_id, req.width, req.height);
      return empty;
    }),
    CloseIO: unary(async (req, call) => {
      await task(call, req.container_id).closeIO(req.exec_id, req.stdin);
      return empty;
    }),
    Pause: unary(async (req, call) => {
      await task(call, req.container_id).pause();
      return empty;
    }),
    Resume: unary(async (req, call) => {
      await task(call, req.container_id).resume();
      return empty;
    }),
    ListPids: unary(async (req, call) => {
      return { processes: await task(call, req.container_id).pids() };
    }),
    Checkpoint: unary(async () => {
      throw unimplemented('checkpoint is not supported');
    }),
    Update: unary(async (req, call) => {
      if (!req.resources?.type_url) throw invalidArgument('resources must be set');
      await task(call, req.container_id).update(req.resources, req.annotations);
      return empty;
    }),
    Metrics: unary(async (req, call) => {
      const ns = namespaceOf(call);
      const match = parseFilters(req.filters);
      const metrics = [];
      for (const t of manager.list(ns)) {
        if (!match((path) => (path[0] === 'id' ? t.id : path[0] === 'runtime' ? t.runtime : undefined))) continue;
        try {
          metrics.push({ timestamp: toTimestamp(Date.now()), id: t.id, data: await t.stats() });
        } catch (err) {
          if (!isCode(err, 'NotFound')) throw err;
        }
      }
      return { metrics };
    }),
    Wait: unary(async (req, call) => {
      const res = await task(call, req.container_id).wait(req.exec_id);
      return { exit_status: res.exit_status, exited_at: res.exited_at };
    }),
  };
  return {
    register(server) {
      server.addService(Tasks, handlers);
    },
  };
}
