import type { Command } from 'commander';
import type { BerthClient } from '../../../transport/client.ts';
import type { Context } from '../../context.ts';
import { ExitError, forEachTarget } from '../../errors.ts';
import { out } from '../../output.ts';
import { getContainer, getProcess } from '../tasks/lookup.ts';

const seconds = (v: string) => {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n)) throw new Error(`--time must be a whole number of seconds, not "${v}"`);
  return n;
};

/** Resolves with the task's exit status once it exits, or undefined after `ms` (and stops waiting). */
async function exitWithin(c: BerthClient, id: string, ms: number): Promise<number | undefined> {
  const { waitWithoutDeadline } = await import('../../io/session.ts');
  const wait = waitWithoutDeadline(c, { container_id: id, exec_id: '' });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
  try {
    return await Promise.race([wait.result.then((r) => r.exit_status), timeout]);
  } finally {
    clearTimeout(timer);
    wait.cancel();
  }
}

/**
 * Stops a container as Docker does: its stop signal (label, else SIGTERM) to the init process,
 * then SIGKILL to every process if it has not exited within `timeoutSec`. The task stays, stopped.
 */
export async function stopContainer(c: BerthClient, id: string, timeoutSec: number): Promise<void> {
  const [{ signalNumber }, { stopSignalLabel }] = await Promise.all([import('../../../core/signals.ts'), import('../../../core/spec/names.ts')]);
  const container = await getContainer(c, id);
  const p = await getProcess(c, id);
  if (p.status === 'STOPPED') return;
  if (p.status === 'CREATED') {
    await c.tasks.Kill({ container_id: id, exec_id: '', signal: 9, all: true });
    return;
  }
  const signal = signalNumber(container.labels?.[stopSignalLabel] ?? 'SIGTERM');
  await c.tasks.Kill({ container_id: id, exec_id: '', signal, all: false });
  if ((await exitWithin(c, id, timeoutSec * 1000)) !== undefined) return;
  await c.tasks.Kill({ container_id: id, exec_id: '', signal: 9, all: true });
  if ((await exitWithin(c, id, 10_000)) === undefined) throw new Error(`container ${id} did not exit 10 s after SIGKILL`);
}

/**
 * Starts a container's task again as `docker start` does: a stopped task is deleted first, a
 * running one left as it is; the new task's output goes to the container's log when it keeps
 * one (berth run's containers do), else to FIFOs left for tasks attach.
 */
async function startContainer(ctx: Context, c: BerthClient, id: string): Promise<void> {
  const [{ startTask }, { logLabel }, { removeStdio, fifoDirFlag }] = await Promise.all([
    import('../tasks/start.ts'),
    import('../../../core/spec/names.ts'),
    import('../run.ts'),
  ]);
  const container = await getContainer(c, id);
  const task = await getProcess(c, id).catch((err: { code?: string }) => {
    if (err.code === 'NotFound') return undefined;
    throw err;
  });
  if (task && task.status !== 'STOPPED' && task.status !== 'CREATED') return;
  if (task) {
    await c.tasks.Delete({ container_id: id });
    await removeStdio(id, [task.stdin, task.stdout, task.stderr]);
  }
  const logged = container.labels?.[logLabel] !== undefined;
  const fifoDir = process.env[fifoDirFlag.env!] ?? String(fifoDirFlag.default);
  const code = await startTask(ctx, id, { detach: true, nullIo: logged, fifoDir });
  if (code !== 0) throw new ExitError(code);
}

/** `berth stop`, `berth kill`, `berth wait`, `berth start` and `berth restart`, as Docker spells them. */
export function register(program: Command, ctx: Context) {
  program
    .command('start')
    .description('start stopped containers again (detached; the output goes to their log); prints each id')
    .argument('<ids...>', 'container ids')
    .addHelpText('after', '\nExample:\n  berth start web && berth logs -f web')
    .action(async (ids: string[]) => {
      const c = await ctx.client();
      await forEachTarget(ids, (id) => startContainer(ctx, c, id), ctx.options);
    });

  program
    .command('restart')
    .description('stop containers (the stop signal, then SIGKILL after -t seconds) and start them again; prints each id')
    .argument('<ids...>', 'container ids')
    .option('-t, --time <seconds>', 'seconds to wait for the exit before SIGKILL', seconds, 10)
    .addHelpText('after', '\nExample:\n  berth restart -t 2 web')
    .action(async (ids: string[], flags: { time: number }) => {
      const c = await ctx.client();
      await forEachTarget(
        ids,
        async (id) => {
          await stopContainer(c, id, flags.time);
          await startContainer(ctx, c, id);
        },
        ctx.options,
      );
    });

  program
    .command('stop')
    .description('stop containers: the stop signal, then SIGKILL after a timeout; prints each id stopped')
    .argument('<ids...>', 'container ids')
    .option('-t, --time <seconds>', 'seconds to wait for the exit before SIGKILL', seconds, 10)
    .addHelpText('after', '\nExamples:\n  berth stop web\n  berth stop -t 0 web db    # SIGKILL at once')
    .action(async (ids: string[], flags: { time: number }) => {
      const c = await ctx.client();
      await forEachTarget(ids, (id) => stopContainer(c, id, flags.time), ctx.options);
    });

  program
    .command('kill')
    .description('send a signal (default SIGKILL) to the processes of running containers; prints each id')
    .argument('<ids...>', 'container ids')
    .option('-s, --signal <signal>', 'signal name or number', 'SIGKILL')
    .addHelpText('after', '\nExamples:\n  berth kill web\n  berth kill -s HUP web')
    .action(async (ids: string[], flags: { signal: string }) => {
      const [c, { signalNumber }] = await Promise.all([ctx.client(), import('../../../core/signals.ts')]);
      const signal = signalNumber(flags.signal);
      await forEachTarget(
        ids,
        async (id) => {
          const p = await getProcess(c, id);
          if (p.status !== 'RUNNING' && p.status !== 'PAUSED') throw new Error(`container ${id} is not running: ${p.status.toLowerCase()}`);
          await c.tasks.Kill({ container_id: id, exec_id: '', signal, all: signal === 9 });
        },
        ctx.options,
      );
    });

  program
    .command('wait')
    .description("wait for containers to exit, print each exit status; berth's own exit status is the last one's")
    .argument('<ids...>', 'container ids')
    .addHelpText('after', '\nExample:\n  berth wait job && echo "job succeeded"')
    .action(async (ids: string[]) => {
      const [c, { waitWithoutDeadline }] = await Promise.all([ctx.client(), import('../../io/session.ts')]);
      let last = 0;
      for (const id of ids) {
        last = (await waitWithoutDeadline(c, { container_id: id, exec_id: '' }).result).exit_status;
        out(`${last}\n`);
      }
      if (last !== 0) throw new ExitError(Math.min(last, 255));
    });
}
