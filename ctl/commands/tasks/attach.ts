import type { Command } from 'commander';
import type { Context } from '../../context.ts';
import { ExitError } from '../../errors.ts';
import { getProcess } from './lookup.ts';

/** Reopens a running task's FIFOs (the paths Tasks.Get reports) and follows it to its exit. */
async function attachTask(ctx: Context, id: string): Promise<number> {
  const [c, { ClientIO }, { SignalRelay, waitWithoutDeadline }] = await Promise.all([ctx.client(), import('../../io/stdio.ts'), import('../../io/session.ts')]);
  const p = await getProcess(c, id);
  const io = ClientIO.attach({ stdin: p.stdin, stdout: p.stdout, stderr: p.stderr, terminal: p.terminal });
  const relay = new SignalRelay();
  const tasks = c.tasks;
  const ids = { container_id: id, exec_id: '' };
  const resize = () => {
    const size = ClientIO.terminalSize();
    if (size) tasks.ResizePty({ ...ids, ...size }).catch(() => undefined);
  };
  try {
    const wait = waitWithoutDeadline(c, ids);
    relay.forwardTo((signal) => tasks.Kill({ ...ids, signal, all: false }).catch(() => undefined));
    if (p.terminal) {
      resize();
      process.stdout.on('resize', resize);
    }
    io.start(() => tasks.CloseIO({ ...ids, stdin: true }).catch(() => undefined));
    const res = await wait.result;
    await io.drain(1000);
    return res.exit_status;
  } finally {
    process.stdout.off('resize', resize);
    relay.dispose();
    io.close();
  }
}

/** `berth tasks attach ID`: a running task's stdio, followed to its exit. */
export function register(tasks: Command, ctx: Context) {
  tasks
    .command('attach')
    .description("attach to a running task's stdio (its FIFOs must still exist) and wait for it")
    .argument('<id>', 'container id')
    .action(async (id: string) => {
      const code = await attachTask(ctx, id);
      if (code !== 0) throw new ExitError(code);
    });
}
