import type { Command } from 'commander';
import type { Info__Output } from '../../../api/gen/containerd/services/snapshots/v1/Info.ts';
import { formatLabels, out } from '../../output.ts';
import { parseLabels } from '../../parse.ts';
import type { SnapshotsGroup } from './group.ts';

/** `berth snapshots label KEY [key=value...]`. */
export function register({ sub, snapshotterOf, service }: SnapshotsGroup) {
  sub('label')
    .description('set labels on a snapshot (key= removes one) and print its labels')
    .argument('<key>', 'key or name of the snapshot')
    .argument('[labels...]', 'labels as key=value; an empty value removes the label')
    .action(async (key: string, labelArgs: string[], _flags: object, cmd: Command) => {
      const labels = parseLabels(labelArgs);
      const snapshotter = snapshotterOf(cmd);
      const s = await service();
      let info: Info__Output | null;
      if (Object.keys(labels).length === 0) {
        info = (await s.Stat({ snapshotter, key })).info;
      } else {
        const set = Object.fromEntries(Object.entries(labels).filter(([, v]) => v !== ''));
        const paths = Object.keys(labels).map((k) => `labels.${k}`);
        info = (await s.Update({ snapshotter, info: { name: key, labels: set }, update_mask: { paths } })).info;
      }
      const shown = formatLabels(info?.labels);
      if (shown !== '-') out(`${shown}\n`);
    });
}
