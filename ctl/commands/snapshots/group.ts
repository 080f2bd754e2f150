import { type Command, Option } from 'commander';
import type { Info__Output } from '../../../api/gen/containerd/services/snapshots/v1/Info.ts';
import type { Context } from '../../context.ts';

/** The `berth snapshots` command and what its verbs share: --snapshotter before or after the verb, the client, the list. */
export function snapshotsGroup(program: Command, ctx: Context) {
  const snapshots = program
    .command('snapshots')
    .alias('snapshot')
    .description('manage snapshots (filesystems built up from layers)')
    .addOption(new Option('--snapshotter <name>', 'snapshotter to use').env('BERTH_SNAPSHOTTER').default('overlayfs'));

  // --snapshotter is accepted before the subcommand (as with ctr) and after it.
  const sub = (name: string) => snapshots.command(name).option('--snapshotter <name>', 'snapshotter to use (default: overlayfs)');
  const snapshotterOf = (cmd: Command): string => cmd.opts<{ snapshotter?: string }>().snapshotter ?? snapshots.opts<{ snapshotter: string }>().snapshotter;
  const service = async () => (await ctx.client()).snapshots;
  const list = async (snapshotter: string, filters: string[] = []) => {
    const s = await service();
    const infos: Info__Output[] = [];
    for await (const msg of s.List({ snapshotter, filters })) infos.push(...msg.info);
    return infos;
  };
  return { sub, snapshotterOf, service, list };
}

export type SnapshotsGroup = ReturnType<typeof snapshotsGroup>;
