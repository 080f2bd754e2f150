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
}

export const isRunning = (t: Process__Output | undefined) => t?.status === 'RUNNING' || t?.status === 'PAUSED' || t?.status === 'PAUSING';

/** Every container of the namespace with its task (one Tasks.List for all). */
export async function containerStates(c: BerthClient): Promise<ContainerState[]> {
  const [{ listContainers }, { tasks }] = await Promise.all([import('../containers.ts'), c.tasks.List({ filter: '' })]);
  const byId = new Map(tasks.map((t) => [t.id || t.container_id, t]));
  const containers = await listContainers(c, []);
  return containers.map((container) => ({ container, task: byId.get(container.id) }));
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
export function statusText(task: Process__Output | undefined, now = Date.now()): string {
  if (!task) return 'Created';
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
