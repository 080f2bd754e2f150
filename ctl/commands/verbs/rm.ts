import type { Command } from 'commander';
import type { Context } from '../../context.ts';
import { forEachTarget } from '../../errors.ts';

/** `berth rm [-f]`: containers with their tasks and snapshots, as `docker rm` removes them. */
export function register(program: Command, ctx: Context) {
  program
    .command('rm')
    .description('remove containers (task, record, snapshot); -f kills a running one first; prints each id removed')
    .argument('<ids...>', 'container ids')
    .option('-f, --force', 'kill a running container (SIGKILL) and remove it')
    .addHelpText('after', '\nExamples:\n  berth rm web\n  berth rm -f $(berth ps -aq)')
    .action(async (ids: string[], flags: { force?: boolean }) => {
      const [c, { removeContainer }, { killAndDelete }, { getProcess }, { isRunning }] = await Promise.all([
        ctx.client(),
        import('../containers.ts'),
        import('../run.ts'),
        import('../tasks/lookup.ts'),
        import('./state.ts'),
      ]);
      await forEachTarget(
        ids,
        async (id) => {
          const task = await getProcess(c, id).catch((err: { code?: string }) => {
            if (err.code === 'NotFound') return undefined;
            throw err;
          });
          if (isRunning(task)) {
            if (!flags.force) throw new Error(`container ${id} is running: stop it first, or remove it with -f`);
            await killAndDelete(c, id);
          }
          await removeContainer(c, id);
        },
        ctx.options,
      );
    });
}
