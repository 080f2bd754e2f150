import { type Command, Option } from 'commander';
import type { Info__Output } from '../../api/gen/containerd/services/snapshots/v1/Info.ts';
import type { Mount__Output } from '../../api/gen/containerd/types/Mount.ts';
import { fromTimestamp as ts } from '../../api/timestamp.ts';
import type { Context } from '../context.ts';
import { forEachTarget } from '../errors.ts';
import { formatLabels, formatSize, iso, type ListFlags, listFlags, out, printJson, printList, sortedLabels, table } from '../output.ts';
import { collectLabel, parseLabels, rfc3339 } from '../parse.ts';

const gcRoot = 'containerd.io/gc.root';

/** VIEW → View, as ctr prints kinds. */
const kindName = (kind: string) => kind.charAt(0) + kind.slice(1).toLowerCase();

const infoJson = (i: Info__Output) => ({
  name: i.name,
  parent: i.parent || null,
  kind: kindName(i.kind),
  created_at: iso(ts(i.created_at)),
  updated_at: iso(ts(i.updated_at)),
  labels: sortedLabels(i.labels),
});

/** A word the shell reads back as itself: left alone when safe, single-quoted otherwise. */
const shellWord = (s: string) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`);

/** ctr's line per mount: `mount -t TYPE SOURCE TARGET -o OPTIONS`, ready for sh. */
const mountLines = (target: string, mounts: Mount__Output[]) =>
  mounts
    .map((m) => `${['mount', '-t', m.type, m.source, target, ...(m.options.length > 0 ? ['-o', m.options.join(',')] : [])].map(shellWord).join(' ')}\n`)
    .join('');

/**
 * `ctr snapshots tree`: each root, then its children indented under it in `\_` steps. A parent
 * that is not in the list (another filter, a race) still heads its children.
 */
export function tree(infos: readonly Info__Output[]): string {
  const children = new Map<string, string[]>(); // in the order first seen
  const node = (name: string) => {
    let list = children.get(name);
    if (!list) children.set(name, (list = []));
    return list;
  };
  for (const i of infos) {
    node(i.name);
    if (i.parent !== '') node(i.parent).push(i.name);
  }
  const known = new Set(infos.map((i) => i.name));
  const parentOf = new Map(infos.map((i) => [i.name, i.parent]));
  let text = '';
  const print = (name: string, level: number) => {
    text += `${'  '.repeat(level)}${level > 0 ? '\\_' : ''} ${name}\n`;
    for (const child of children.get(name) ?? []) print(child, level + 1);
  };
  for (const name of children.keys()) if (!known.has(name) || parentOf.get(name) === '') print(name, 0);
  return text;
}

/** `berth snapshots ...`: the snapshotters' snapshots, as `ctr snapshots` shows them. */
export function register(program: Command, ctx: Context) {
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

  listFlags(
    sub('ls')
      .alias('list')
      .description('list snapshots (filters such as kind==committed, parent==NAME or labels."containerd.io/gc.root")')
      .argument('[filters...]', 'containerd filter expressions; several are ORed'),
    'print only the keys',
  ).action(async (filters: string[], flags: ListFlags, cmd: Command) => {
    printList(await list(snapshotterOf(cmd), filters), flags, {
      id: (i) => i.name,
      json: infoJson,
      columns: [
        ['KEY', (i) => i.name],
        ['PARENT', (i) => i.parent],
        ['KIND', (i) => kindName(i.kind)],
      ],
    });
  });

  sub('tree')
    .description('show snapshots as a tree: children indented under their parents')
    .action(async (_flags: object, cmd: Command) => {
      out(tree(await list(snapshotterOf(cmd))));
    });

  sub('info')
    .description("print a snapshot's details as JSON")
    .argument('<key>', 'key or name of the snapshot')
    .action(async (key: string, _flags: object, cmd: Command) => {
      const s = await service();
      const res = await s.Stat({ snapshotter: snapshotterOf(cmd), key });
      if (res.info) printJson(infoJson(res.info));
    });

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
