import type { Command } from 'commander';
import type { Context } from '../../context.ts';

/** `berth tasks pause ID` and `berth tasks resume ID`: freezing and thawing a task. */
export function register(tasks: Command, ctx: Context) {
  for (const [name, method, what] of [
    ['pause', 'Pause', 'freeze every process of a task'],
    ['resume', 'Resume', 'thaw a paused task'],
  ] as const) {
    tasks
      .command(name)
      .description(what)
      .argument('<id>', 'container id')
      .action(async (id: string) => {
        const c = await ctx.client();
        await c.tasks[method]({ container_id: id });
      });
  }
}
