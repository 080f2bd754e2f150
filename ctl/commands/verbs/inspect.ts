import type { Command } from 'commander';
import { fromTimestamp } from '../../../api/timestamp.ts';
import type { Context } from '../../context.ts';
import { describeError, ExitError } from '../../errors.ts';
import { out } from '../../output.ts';

/** `berth inspect IDS...`: a JSON array of containers, each as `containers info` prints it, with its state. */
export function register(program: Command, ctx: Context) {
  program
    .command('inspect')
    .description("print containers as a JSON array: the record, the spec decoded and the task's state")
    .argument('<ids...>', 'container ids')
    .addHelpText('after', '\nExample:\n  berth inspect web | jq ".[0].State"')
    .action(async (ids: string[]) => {
      const [c, { getContainer, infoJson }, { getProcess }, { goJson }, { oomKilled }] = await Promise.all([
        ctx.client(),
        import('../containers.ts'),
        import('../tasks/lookup.ts'),
        import('../../../core/spec/spec.ts'),
        import('./oom.ts'),
      ]);
      const found: unknown[] = [];
      let failed = false;
      for (const id of ids) {
        try {
          const container = await getContainer(c, id);
          const task = await getProcess(c, id).catch((err: { code?: string }) => {
            if (err.code === 'NotFound') return undefined;
            throw err;
          });
          const exitedAt = fromTimestamp(task?.exited_at);
          found.push({
            ...infoJson(container),
            State: {
              Status: task ? task.status.toLowerCase() : 'created',
              Running: task?.status === 'RUNNING',
              Pid: task?.pid ?? 0,
              ExitCode: task?.status === 'STOPPED' ? task.exit_status : 0,
              // as far back as berthd's event journal reaches
              OOMKilled: task?.status === 'STOPPED' ? ((await oomKilled(c, ctx.options.namespace, id)) ?? false) : false,
              FinishedAt: exitedAt ? new Date(exitedAt).toISOString() : '0001-01-01T00:00:00Z',
            },
          });
        } catch (err) {
          // an id that is not there is reported; anything else (no daemon) ends the command
          if ((err as { code?: string }).code !== 'NotFound') throw err;
          failed = true;
          process.stderr.write(`berth: ${describeError(err)}\n`);
        }
      }
      out(`${goJson(found, 4)}\n`);
      if (failed) throw new ExitError(1);
    });
}
