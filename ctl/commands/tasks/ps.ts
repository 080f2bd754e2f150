import type { Command } from 'commander';
import type { Context } from '../../context.ts';
import { type Format, formatFlag, out, printJson, table } from '../../output.ts';

/** `berth tasks ps ID`: the processes of a task. */
export function register(tasks: Command, ctx: Context) {
  formatFlag(tasks.command('ps').description('list the processes of a task: pid and exec id').argument('<id>', 'container id')).action(
    async (id: string, flags: { format: Format }) => {
      const c = await ctx.client();
      const { processes } = await c.tasks.ListPids({ container_id: id });
      const { unpackAny } = await import('../../../core/any.ts');
      const execId = (info: { type_url: string; value: Buffer } | null) =>
        info?.type_url.endsWith('ProcessDetails') ? unpackAny<{ exec_id: string }>(info).message.exec_id : undefined;
      if (flags.format === 'json') return printJson(processes.map((p) => ({ pid: p.pid, exec_id: execId(p.info) ?? null })));
      out(
        table(
          ['PID', 'INFO'],
          processes.map((p) => [String(p.pid), execId(p.info) ? `&ProcessDetails{ExecID:${execId(p.info)},}` : '-']),
        ),
      );
    },
  );
}
