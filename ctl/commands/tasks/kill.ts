import type { Command } from 'commander';
import type { Context } from '../../context.ts';
import { getContainer, getProcess } from './lookup.ts';

/** `berth tasks kill ID`: signalling a task or one of its execs. */
export function register(tasks: Command, ctx: Context) {
  tasks
    .command('kill')
    .description("signal a task (default: the container's stop signal, else SIGTERM)")
    .argument('<id>', 'container id')
    .option('-s, --signal <signal>', 'signal name or number (SIGKILL, KILL, 9)')
    .option('-a, --all', 'signal every process of the task')
    .option('--exec-id <id>', 'signal this exec instead of the init process')
    .action(async (id: string, flags: { signal?: string; all?: boolean; execId?: string }) => {
      const [c, { signalNumber }, { stopSignalLabel }] = await Promise.all([
        ctx.client(),
        import('../../../core/signals.ts'),
        import('../../../core/spec/names.ts'),
      ]);
      if (flags.all && flags.execId) throw new Error('--all applies to the init process only, not with --exec-id');
      const container = await getContainer(c, id);
      const signal = signalNumber(flags.signal ?? container.labels?.[stopSignalLabel] ?? 'SIGTERM');
      await getProcess(c, id);
      await c.tasks.Kill({ container_id: id, exec_id: flags.execId ?? '', signal, all: Boolean(flags.all) });
    });
}
