import type { BerthClient } from '../../../transport/client.ts';
import { journalEvents } from './journal.ts';

/**
 * Whether the kernel's OOM killer ended the container's last task, from berthd's event journal
 * (a /tasks/oom after the last /tasks/start; `sinceMs` narrows the search). Undefined where no
 * journal answers (containerd), or when it no longer reaches back that far.
 */
export async function oomKilled(c: BerthClient, ns: string, id: string, sinceMs?: number): Promise<boolean | undefined> {
  const about = `namespace==${JSON.stringify(ns)},event.container_id==${JSON.stringify(id)}`;
  const events = await journalEvents(c, [`${about},topic=="/tasks/start"`, `${about},topic=="/tasks/oom"`], sinceMs);
  if (!events) return undefined;
  if (events.length === 0) return sinceMs === undefined ? undefined : false;
  return events.at(-1)!.topic === '/tasks/oom';
}
