import type { Command } from 'commander';
import type { Context } from '../../context.ts';
import { forEachTarget } from '../../errors.ts';
import type { SnapshotsGroup } from './group.ts';

/** `berth snapshots rm KEY...`. */
export function register({ sub, snapshotterOf, service }: SnapshotsGroup, ctx: Context) {
  sub('rm')
    .alias('remove')
    .alias('delete')
    .alias('del')
    .description('remove snapshots, printing each key removed')
    .argument('<keys...>', 'keys or names of the snapshots')
    .action(async (keys: string[], _flags: object, cmd: Command) => {
      const s = await service();
      const snapshotter = snapshotterOf(cmd);
      await forEachTarget(
        keys,
        async (key) => {
          await s.Remove({ snapshotter, key });
        },
        ctx.options,
      );
    });
}
