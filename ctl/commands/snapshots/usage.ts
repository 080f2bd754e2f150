import { type Command, Option } from 'commander';
import { formatSize, out, printJson, table } from '../../output.ts';
import type { SnapshotsGroup } from './group.ts';

/** `berth snapshots usage [KEY...]`: disk use. */
export function register({ sub, snapshotterOf, service, list }: SnapshotsGroup) {
  sub('usage')
    .description("disk usage of snapshots (their own files, not their parents')")
    .argument('[keys...]', 'snapshots to measure (default: all)')
    .option('-b', 'sizes in bytes')
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'json']).default('table'))
    .action(async (keys: string[], flags: { b?: boolean; format: 'table' | 'json' }, cmd: Command) => {
      const snapshotter = snapshotterOf(cmd);
      if (keys.length === 0) keys = (await list(snapshotter)).map((i) => i.name);
      const s = await service();
      const rows: Array<{ key: string; size: number; inodes: number }> = [];
      for (const key of keys) {
        const u = await s.Usage({ snapshotter, key });
        rows.push({ key, size: Number(u.size), inodes: Number(u.inodes) });
      }
      if (flags.format === 'json') return printJson(rows);
      const size = (n: number) => (flags.b ? String(n) : formatSize(n));
      out(
        table(
          ['KEY', 'SIZE', 'INODES'],
          rows.map((r) => [r.key, size(r.size), String(r.inodes)]),
        ),
      );
    });
}
