import type { Command } from 'commander';
import type { Info__Output } from '../../../api/gen/containerd/services/content/v1/Info.ts';
import { fromTimestamp as ts } from '../../../api/timestamp.ts';
import type { Context } from '../../context.ts';
import { age, formatLabels, formatSize, iso, type ListFlags, listFlags, printList, sortedLabels } from '../../output.ts';

/** `berth content ls [filters...]`: the blobs, with size, age and labels. */
export function register(content: Command, ctx: Context) {
  listFlags(
    content
      .command('ls')
      .alias('list')
      .description('list blobs (filters such as labels."containerd.io/gc.root" or digest~=^sha256:ab)')
      .argument('[filters...]', 'containerd filter expressions; several are ORed'),
    'print only the digests',
  ).action(async (filters: string[], flags: ListFlags) => {
    const c = await ctx.client();
    const infos: Info__Output[] = [];
    for await (const msg of c.content.List({ filters })) infos.push(...msg.info);
    const now = Date.now();
    printList(infos, flags, {
      id: (i) => i.digest,
      json: (i) => ({ digest: i.digest, size: i.size, created_at: iso(ts(i.created_at)), updated_at: iso(ts(i.updated_at)), labels: sortedLabels(i.labels) }),
      columns: [
        ['DIGEST', (i) => i.digest],
        ['SIZE', (i) => formatSize(i.size)],
        ['AGE', (i) => age(ts(i.created_at), now)],
        ['LABELS', (i) => formatLabels(i.labels)],
      ],
    });
  });
}
