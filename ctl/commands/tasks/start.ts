import type { Command } from 'commander';
import type { Context } from '../../context.ts';
import { ExitError } from '../../errors.ts';
import { addFlags } from '../../flags.ts';
import { fifoDirFlag, runTask } from '../run.ts';
import { getContainer } from './lookup.ts';

/** Creates the task of a container with stdio as `ctr tasks start` does, and runs it to its end. */
export async function startTask(ctx: Context, id: string, flags: { detach?: boolean; nullIo?: boolean; logUri?: string; fifoDir: string }): Promise<number> {
  const [c, { containerSpec }, { ClientIO, normalizeLogUri }, { SignalRelay }] = await Promise.all([
    ctx.client(),
    import('../../spec/create.ts'),
    import('../../io/stdio.ts'),
    import('../../io/session.ts'),
  ]);
  const container = await getContainer(c, id);
  const terminal = Boolean(containerSpec(container)?.process?.terminal);
  const relay = new SignalRelay();
  let io: import('../../io/stdio.ts').ClientIO | undefined;
  try {
    const logUri = flags.logUri ? normalizeLogUri(flags.logUri) : undefined;
    io = ClientIO.create({ id, terminal, fifoDir: flags.fifoDir, logUri, nullIo: flags.nullIo });
    let rootfs: { type: string; source: string; target: string; options: string[] }[] = [];
    if (container.snapshotter && container.snapshot_key) {
      const { mounts } = await c.snapshots.Mounts({ snapshotter: container.snapshotter, key: container.snapshot_key });
      rootfs = mounts.map((m) => ({ type: m.type, source: m.source, target: '', options: m.options }));
    }
    return await runTask(c, id, rootfs, io, relay, Boolean(flags.detach));
  } finally {
    relay.dispose();
    io?.close();
  }
}

/** `berth tasks start ID`: a container's task, attached unless -d. */
export function register(tasks: Command, ctx: Context) {
  addFlags(
    tasks
      .command('start')
      .description("start a container's task, attached unless -d (exit status: the task's)")
      .argument('<id>', 'container id')
      .option('-d, --detach', 'start it and return, leaving its FIFOs for tasks attach (output blocks once 64 KiB wait unread: use --log-uri or --null-io)')
      .option('--null-io', 'send all stdio to /dev/null')
      .option('--log-uri <uri>', 'send stdout and stderr to file:///path or binary:///path'),
    [fifoDirFlag],
  ).action(async (id: string, flags: { detach?: boolean; nullIo?: boolean; logUri?: string; fifoDir: string }) => {
    const code = await startTask(ctx, id, flags);
    if (code !== 0) throw new ExitError(code);
  });
}
