import type { Command } from 'commander';
import { out } from '../../output.ts';
import { mountLines } from './format.ts';
import type { SnapshotsGroup } from './group.ts';

/** `berth snapshots mounts TARGET KEY`: the mount command of a snapshot. */
export function register({ sub, snapshotterOf, service }: SnapshotsGroup) {
  sub('mounts')
    .alias('mount')
    .alias('m')
    .description('print the mount command that mounts a snapshot on target')
    .argument('<target>', 'where it would be mounted')
    .argument('<key>', 'key of an active snapshot or view')
    .action(async (target: string, key: string, _flags: object, cmd: Command) => {
      const s = await service();
      const res = await s.Mounts({ snapshotter: snapshotterOf(cmd), key });
      out(mountLines(target, res.mounts));
    });
}
