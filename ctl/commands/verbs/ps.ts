import type { Command } from 'commander';
import { fromTimestamp } from '../../../api/timestamp.ts';
import type { Context } from '../../context.ts';
import { type ListFlags, listFlags, printList } from '../../output.ts';
import { commandOf, containerStates, humanDuration, isRunning, statusText } from './state.ts';

const cut = (s: string, n: number, whole: boolean) => (whole || s.length <= n ? s : `${s.slice(0, n - 1)}…`);

/** `berth ps [-a]`: containers as `docker ps` lists them. */
export function register(program: Command, ctx: Context) {
  listFlags(
    program
      .command('ps')
      .description('list running containers (-a: all) with image, command, age, status and published ports')
      .option('-a, --all', 'also containers that do not run')
      .option('--no-trunc', 'do not shorten the command')
      .addHelpText('after', '\nExamples:\n  berth ps\n  berth ps -a --format json'),
    'print only the container ids',
  ).action(async (flags: ListFlags & { all?: boolean; trunc: boolean }) => {
    const [c, { publishedPorts }] = await Promise.all([ctx.client(), import('../../spec/network.ts')]);
    const now = Date.now();
    const rows = (await containerStates(c, ctx.options.namespace, Boolean(flags.all)))
      .filter((s) => flags.all || isRunning(s.task))
      .sort((a, b) => (fromTimestamp(b.container.created_at) ?? 0) - (fromTimestamp(a.container.created_at) ?? 0));
    printList(rows, flags, {
      id: (s) => s.container.id,
      json: (s) => ({
        id: s.container.id,
        image: s.container.image,
        command: commandOf(s.container),
        created: new Date(fromTimestamp(s.container.created_at) ?? 0).toISOString(),
        status: s.task?.status.toLowerCase() ?? (s.lastExit ? 'stopped' : 'created'),
        pid: s.task?.pid || undefined,
        exit_status: s.task?.status === 'STOPPED' ? s.task.exit_status : s.lastExit?.status,
        ports: publishedPorts(s.container.labels) ?? [],
      }),
      columns: [
        ['CONTAINER ID', (s) => s.container.id],
        ['IMAGE', (s) => s.container.image || '-'],
        ['COMMAND', (s) => `"${cut(commandOf(s.container).join(' '), 20, !flags.trunc)}"`],
        ['CREATED', (s) => `${humanDuration(now - (fromTimestamp(s.container.created_at) ?? now))} ago`],
        ['STATUS', (s) => statusText(s.task, now, s.lastExit)],
        ['PORTS', (s) => publishedPorts(s.container.labels)?.join(', ') ?? ''],
      ],
    });
  });
}
