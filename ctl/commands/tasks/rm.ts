import type { Command } from 'commander';
import type { Context } from '../../context.ts';
import { forEachTarget } from '../../errors.ts';
import { killAndDelete, removeStdio } from '../run.ts';
import { getProcess } from './lookup.ts';

/** `berth tasks rm IDS...`: deleting stopped tasks or execs. */
export function register(tasks: Command, ctx: Context) {
  tasks
    .command('rm')
    .alias('delete')
    .alias('del')
    .alias('remove')
    .description('delete stopped tasks, printing each id deleted (-f kills a running one first)')
    .argument('<ids...>', 'container ids')
    .option('-f, --force', 'kill the task first if it runs')
    .option('--exec-id <id>', 'delete this exec process instead')
    .action(async (ids: string[], flags: { force?: boolean; execId?: string }) => {
      const c = await ctx.client();
      await forEachTarget(
        ids,
        async (id) => {
          const p = await getProcess(c, id, flags.execId);
          const running = p.status !== 'STOPPED' && p.status !== 'CREATED';
          if (running && !flags.force) throw new Error(`task ${id} must be stopped before deletion: ${p.status.toLowerCase()} (use -f to kill it)`);
          if (running) return killAndDelete(c, id, flags.execId);
          if (flags.execId) await c.tasks.DeleteProcess({ container_id: id, exec_id: flags.execId });
          else await c.tasks.Delete({ container_id: id });
          await removeStdio(flags.execId || id, [p.stdin, p.stdout, p.stderr]);
        },
        ctx.options,
      );
    });
}
