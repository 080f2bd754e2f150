import { BerthEvents } from '../../../api/services.ts';
import { toTimestamp } from '../../../api/timestamp.ts';
import type { BerthClient } from '../../../transport/client.ts';

/**
 * Whether the kernel's OOM killer ended the container's last task, from berthd's event journal
 * (a /tasks/oom after the last /tasks/start; `sinceMs` narrows the search). Undefined where no
 * journal answers (containerd), or when it no longer reaches back that far.
 */
export async function oomKilled(c: BerthClient, ns: string, id: string, sinceMs?: number): Promise<boolean | undefined> {
  const about = `namespace==${JSON.stringify(ns)},event.container_id==${JSON.stringify(id)}`;
  const request = {
    filters: [`${about},topic=="/tasks/start"`, `${about},topic=="/tasks/oom"`],
    replay_only: true,
    ...(sinceMs === undefined ? {} : { since: toTimestamp(sinceMs) }),
  };
  let killed: boolean | undefined;
  try {
    for await (const e of c.service(BerthEvents).Subscribe(request)) killed = e.topic === '/tasks/oom';
  } catch (err) {
    if ((err as { code?: string }).code === 'Unimplemented') return undefined;
    throw err;
  }
  return killed ?? (sinceMs === undefined ? undefined : false);
}
