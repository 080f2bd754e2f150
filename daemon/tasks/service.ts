import type { TasksHandlers } from '../../api/gen/containerd/services/tasks/v1/Tasks.ts';
import { Tasks } from '../../api/services.ts';
import { toTimestamp } from '../../api/timestamp.ts';
import type { AnyMessage } from '../../core/any.ts';
import { invalidArgument, isCode, unimplemented } from '../../core/errors.ts';
import { validateIdentifier } from '../../core/identifiers.ts';
import { parseFilters } from '../filters.ts';
import { empty, namespaceOf, unary } from '../grpc.ts';
import type { GrpcService } from '../plugin.ts';
import type { ContainerForTask, TaskManager } from '../runtime/manager.ts';

/** How the tasks service finds the container a task belongs to. */
export interface ContainerLookup {
  get(namespace: string, id: string): Promise<ContainerForTask>;
}

interface ShimState {
  id: string;
  pid: number;
  status: string;
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
  exit_status: number;
  exited_at: unknown;
  exec_id: string;
}

/**
 * containerd.services.tasks.v1.Tasks over the v2 runtime: each call goes to the shim of the
 * task, which owns the process; this service only finds the shim and checks the request.
 */
export function tasksService(manager: TaskManager, containers: ContainerLookup): GrpcService {
  const process = (containerId: string, s: ShimState) => ({
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
      });
      return { container_id: req.container_id, pid: task.pid };
    }),
    Start: unary(async (req, call) => {
      const res = await manager.call<{ pid: number }>(namespaceOf(call), req.container_id, 'Start', { id: req.container_id, exec_id: req.exec_id });
      return { pid: res.pid };
    }),
    Delete: unary(async (req, call) => {
      const res = await manager.delete(namespaceOf(call), req.container_id);
      return { id: '', pid: res.pid, exit_status: res.exit_status, exited_at: res.exited_at };
    }),
    DeleteProcess: unary(async (req, call) => {
      if (!req.exec_id) throw invalidArgument('exec id is required to delete a process; use Delete for the task');
      const res = await manager.call<{ pid: number; exit_status: number; exited_at: unknown }>(namespaceOf(call), req.container_id, 'Delete', {
        id: req.container_id,
        exec_id: req.exec_id,
      });
      return { id: req.exec_id, pid: res.pid, exit_status: res.exit_status, exited_at: res.exited_at as never };
    }),
    Get: unary(async (req, call) => {
      const s = await manager.call<ShimState>(namespaceOf(call), req.container_id, 'State', { id: req.container_id, exec_id: req.exec_id });
      return { process: process(req.container_id, s) as never };
    }),
    List: unary(async (req, call) => {
      const ns = namespaceOf(call);
      const match = parseFilters(req.filter ? [req.filter] : []);
      const tasks = [];
      for (const t of manager.list(ns)) {
        const s = await manager.call<ShimState>(ns, t.id, 'State', { id: t.id, exec_id: '' }, 5000).catch(() => undefined);
        if (!s) continue;
        const p = process(t.id, s);
        if (match((path) => (path[0] === 'id' ? t.id : path[0] === 'status' ? s.status.toLowerCase() : path[0] === 'runtime' ? t.runtime : undefined)))
          tasks.push(p);
      }
      return { tasks: tasks as never };
    }),
    Kill: unary(async (req, call) => {
      await manager.call(namespaceOf(call), req.container_id, 'Kill', { id: req.container_id, exec_id: req.exec_id, signal: req.signal, all: req.all });
      return empty;
    }),
    Exec: unary(async (req, call) => {
      const ns = namespaceOf(call);
      if (!req.exec_id) throw invalidArgument('exec id must not be empty');
      validateIdentifier(req.exec_id);
      if (!req.spec?.type_url) throw invalidArgument('exec spec must be set');
      await manager.call(ns, req.container_id, 'Exec', {
        id: req.container_id,
        exec_id: req.exec_id,
        terminal: req.terminal,
        stdin: req.stdin,
        stdout: req.stdout,
        stderr: req.stderr,
        spec: req.spec,
      });
      return empty;
    }),
    ResizePty: unary(async (req, call) => {
      await manager.call(namespaceOf(call), req.container_id, 'ResizePty', {
        id: req.container_id,
        exec_id: req.exec_id,
        width: req.width,
        height: req.height,
      });
      return empty;
    }),
    CloseIO: unary(async (req, call) => {
      await manager.call(namespaceOf(call), req.container_id, 'CloseIO', { id: req.container_id, exec_id: req.exec_id, stdin: req.stdin });
      return empty;
    }),
    Pause: unary(async (req, call) => {
      await manager.call(namespaceOf(call), req.container_id, 'Pause', { id: req.container_id });
      return empty;
    }),
    Resume: unary(async (req, call) => {
      await manager.call(namespaceOf(call), req.container_id, 'Resume', { id: req.container_id });
      return empty;
    }),
    ListPids: unary(async (req, call) => {
      const res = await manager.call<{ processes: unknown[] }>(namespaceOf(call), req.container_id, 'Pids', { id: req.container_id });
      return { processes: res.processes as never };
    }),
    Checkpoint: unary(async () => {
      throw unimplemented('checkpoint is not supported');
    }),
    Update: unary(async (req, call) => {
      if (!req.resources?.type_url) throw invalidArgument('resources must be set');
      await manager.call(namespaceOf(call), req.container_id, 'Update', { id: req.container_id, resources: req.resources, annotations: req.annotations });
      return empty;
    }),
    Metrics: unary(async (req, call) => {
      const ns = namespaceOf(call);
      const match = parseFilters(req.filters);
      const metrics = [];
      for (const t of manager.list(ns)) {
        if (!match((path) => (path[0] === 'id' ? t.id : path[0] === 'runtime' ? t.runtime : undefined))) continue;
        try {
          const res = await manager.call<{ stats: AnyMessage | null }>(ns, t.id, 'Stats', { id: t.id });
          metrics.push({ timestamp: toTimestamp(Date.now()), id: t.id, data: res.stats });
        } catch (err) {
          if (!isCode(err, 'NotFound')) throw err;
        }
      }
      return { metrics: metrics as never };
    }),
    Wait: unary(async (req, call) => {
      const res = await manager.wait(namespaceOf(call), req.container_id, req.exec_id);
      return { exit_status: res.exit_status, exited_at: res.exited_at as never };
    }),
  };
  return {
    register(server) {
      server.addService(Tasks, handlers);
    },
  };
}
