import { statSync } from 'node:fs';
import type { Container__Output } from '../../../api/gen/containerd/services/containers/v1/Container.ts';
import type { Process__Output } from '../../../api/gen/containerd/v1/types/Process.ts';
import { fromTimestamp } from '../../../api/timestamp.ts';
import type { BerthClient } from '../../../transport/client.ts';

/** A container with its task, as `ps` and `inspect` show it. */
export interface ContainerState {
  container: Container__Output;
  /** undefined: no task (never started, or deleted) */
  task: Process__Output | undefined;
  /** for one without a task: how its last task ended, from berthd's event journal */
  lastExit?: { status: number; at: number };
}

export const isRunning = (t: Process__Output | undefined) => t?.status === 'RUNNING' || t?.status === 'PAUSED' || t?.status === 'PAUSING';

/**
 * Every container of the namespace with its task (one Tasks.List for all); with `exits`, how the
 * last task of those without one ended (a run that was not --rm deletes its task, as ctr's does).
 */
export async function containerStates(c: BerthClient, ns: string, exits = false): Promise<ContainerState[]> {
  const [{ listContainers }, { tasks }] = await Promise.all([import('../containers.ts'), c.tasks.List({ filter: '' })]);
  const byId = new Map(tasks.map((t) => [t.id || t.container_id, t]));
  const containers = await listContainers(c, []);
  const states: ContainerState[] = containers.map((container) => ({ container, task: byId.get(container.id) }));
  if (exits && states.some((s) => !s.task)) {
    const last = await lastExits(c, ns);
    for (const s of states) {
      const exit = s.task ? undefined : last.get(s.container.id);
      // an exit of an earlier container of the same id is not this one's
      if (exit && exit.at >= (fromTimestamp(s.container.created_at) ?? 0)) s.lastExit = exit;
    }
  }
  return states;
}

/** Each container's last init exit that berthd's event journal still holds (none against containerd). */
async function lastExits(c: BerthClient, ns: string): Promise<Map<string, { status: number; at: number }>> {
  const [{ journalEvents }, { unpackAnyOf }] = await Promise.all([import('./journal.ts'), import('../../../core/any.ts')]);
  const last = new Map<string, { status: number; at: number }>();
  for (const e of (await journalEvents(c, [`namespace==${JSON.stringify(ns)},topic=="/tasks/exit"`])) ?? []) {
    const exit = unpackAnyOf<{ container_id: string; id: string; exit_status: number; exited_at?: { seconds: number; nanos: number } }>(
      e.event as never,
      'containerd.events.TaskExit',
    );
    if (exit.id !== exit.container_id) continue; // an exec's
    last.set(exit.container_id, { status: exit.exit_status, at: fromTimestamp(exit.exited_at as never) ?? 0 });
  }
  return last;
}

/** "3 seconds", "5 minutes", "2 hours", "4 days", as Docker words a duration. */
export function humanDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const unit = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  if (s < 1) return 'Less than a second';
  if (s < 60) return unit(s, 'second');
  if (s < 3600) return unit(Math.floor(s / 60), 'minute');
  if (s < 48 * 3600) return unit(Math.floor(s / 3600), 'hour');
  return unit(Math.floor(s / 86400), 'day');
}

/** When a process started, from its /proc entry (berth's CLI runs on berthd's host); undefined if unknown. */
function startedAt(pid: number): number | undefined {
  try {
    return pid > 0 ? statSync(`/proc/${pid}`).ctimeMs : undefined;
  } catch {
    return undefined;
  }
}

/** Docker's STATUS column: "Up 5 minutes", "Exited (137) 2 hours ago", "Paused", "Created". */
export function statusText(task: Process__Output | undefined, now = Date.now(), lastExit?: { status: number; at: number }): string {
  if (!task) return lastExit ? `Exited (${lastExit.status}) ${humanDuration(now - lastExit.at)} ago` : 'Created';
  switch (task.status) {
    case 'RUNNING': {
      const since = startedAt(task.pid);
      return since === undefined ? 'Up' : `Up ${humanDuration(now - since)}`;
    }
    case 'PAUSED':
    case 'PAUSING':
      return 'Paused';
    case 'STOPPED': {
      const at = fromTimestamp(task.exited_at);
      return `Exited (${task.exit_status})${at ? ` ${humanDuration(now - at)} ago` : ''}`;
    }
    case 'CREATED':
      return 'Created';
    default:
      return task.status.charAt(0) + task.status.slice(1).toLowerCase();
  }
}

/** The command a container runs, from its spec (Docker's COMMAND column). */
export function commandOf(container: Container__Output): string[] {
  try {
    const spec = JSON.parse(Buffer.from(container.spec?.value ?? []).toString('utf8')) as { process?: { args?: string[] } };
    return spec.process?.args ?? [];
  } catch {
    return [];
  }
}
