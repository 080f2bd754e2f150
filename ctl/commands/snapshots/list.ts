import type { Command } from 'commander';
import { type ListFlags, listFlags, out, printJson, printList } from '../../output.ts';
import { infoJson, kindName, tree } from './format.ts';
import type { SnapshotsGroup } from './group.ts';

/** `berth snapshots ls|tree|info`: listing snapshots and reading one. */
export function register({ sub, snapshotterOf, service, list }: SnapshotsGroup) {
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
}
