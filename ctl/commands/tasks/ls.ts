import type { Command } from 'commander';
import type { Context } from '../../context.ts';
import { type ListFlags, listFlags, printList } from '../../output.ts';

/** `berth tasks ls`: the tasks with pid and status. */
export function register(tasks: Command, ctx: Context) {
  listFlags(tasks.command('ls').alias('list').description('list tasks: id, pid and status'), 'print only the task ids').action(async (flags: ListFlags) => {
    const c = await ctx.client();
    const { tasks: list } = await c.tasks.List({ filter: '' });
    printList(list, flags, {
      id: (t) => t.id || t.container_id,
      json: (t) => ({ id: t.id || t.container_id, pid: t.pid, status: t.status.toLowerCase(), exit_status: t.exit_status }),
      columns: [
        ['TASK', (t) => t.id || t.container_id],
        ['PID', (t) => String(t.pid)],
        ['STATUS', (t) => t.status.toUpperCase()],
      ],
    });
  });
}
