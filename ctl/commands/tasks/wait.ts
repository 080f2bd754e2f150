import type { Command } from 'commander';
import type { Context } from '../../context.ts';
import { out } from '../../output.ts';

/** `berth tasks wait ID`: a task's (or an exec's) exit status, once it exits. */
export function register(tasks: Command, ctx: Context) {
  tasks
    .command('wait')
    .description('wait for a task (or an exec) to exit and print its exit status')
    .argument('<id>', 'container id')
    .option('--exec-id <id>', 'wait for this exec instead')
    .action(async (id: string, flags: { execId?: string }) => {
      const [c, { waitWithoutDeadline }] = await Promise.all([ctx.client(), import('../../io/session.ts')]);
      const res = await waitWithoutDeadline(c, { container_id: id, exec_id: flags.execId ?? '' }).result;
      out(`${res.exit_status}\n`);
    });
}
