import type { Command } from 'commander';
import { out, printJson } from '../../output.ts';
import { collectLabel, parseLabels, rfc3339 } from '../../parse.ts';
import { gcRoot, mountLines } from './format.ts';
import type { SnapshotsGroup } from './group.ts';

/** `berth snapshots prepare|view|commit`: making snapshots. */
export function register({ sub, snapshotterOf, service }: SnapshotsGroup) {
  for (const [name, description, rootByDefault] of [
    ['prepare', 'create an active (writable) snapshot, on a committed parent if given', true],
    ['view', 'create a read-only view of a committed snapshot', false],
  ] as const) {
    sub(name)
      .description(description)
      .argument('<key>', 'key of the new snapshot')
      .argument('[parent]', 'name of a committed snapshot to start from')
      .option('-t, --target <path>', 'print the mount command for this target')
      .option('--mounts', 'print the mounts as JSON')
      .option('--label <key=value>', 'label the snapshot (repeatable)', collectLabel, [])
      .action(async (key: string, parent: string | undefined, flags: { target?: string; mounts?: boolean; label: string[] }, cmd: Command) => {
        // as ctr does, a prepared snapshot is a gc root: nothing else would keep it
        const labels = { ...(rootByDefault ? { [gcRoot]: rfc3339(Date.now()) } : {}), ...parseLabels(flags.label) };
        const s = await service();
        const method = name === 'prepare' ? 'Prepare' : 'View';
        const res = await s[method]({ snapshotter: snapshotterOf(cmd), key, parent: parent ?? '', labels });
        if (flags.target) out(mountLines(flags.target, res.mounts));
        if (flags.mounts) printJson(res.mounts.map((m) => ({ type: m.type, source: m.source, options: m.options })));
      });
  }

  sub('commit')
    .description('commit an active snapshot under a name')
    .argument('<name>', 'name of the committed snapshot')
    .argument('<key>', 'key of the active snapshot')
    .option('--label <key=value>', 'label the committed snapshot (repeatable)', collectLabel, [])
    .action(async (name: string, key: string, flags: { label: string[] }, cmd: Command) => {
      const labels = { [gcRoot]: rfc3339(Date.now()), ...parseLabels(flags.label) };
      const s = await service();
      await s.Commit({ snapshotter: snapshotterOf(cmd), name, key, labels });
    });
}
