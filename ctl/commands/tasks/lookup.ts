import type { Container__Output } from '../../../api/gen/containerd/services/containers/v1/Container.ts';
import type { Process__Output as TaskProcess } from '../../../api/gen/containerd/v1/types/Process.ts';
import type { BerthClient } from '../../../transport/client.ts';

// The container and task records that several tasks verbs read first.

export async function getContainer(c: BerthClient, id: string): Promise<Container__Output> {
  return (await c.containers.Get({ id })).container!;
}

export async function getProcess(c: BerthClient, id: string, execId = ''): Promise<TaskProcess> {
  const { process: p } = await c.tasks.Get({ container_id: id, exec_id: execId });
  if (!p) throw new Error(`task ${id}: no process in the answer`);
  return p;
}
