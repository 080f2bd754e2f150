import type { Command } from 'commander';
import type { Status__Output } from '../../../api/gen/containerd/services/content/v1/Status.ts';
import { fromTimestamp as ts } from '../../../api/timestamp.ts';
import type { Context } from '../../context.ts';
import { age, formatSize, iso, type ListFlags, listFlags, printList } from '../../output.ts';

/** `berth content active [filters...]`: the ingests in progress. */
export function register(content: Command, ctx: Context) {
  listFlags(
    content
      .command('active')
      .description('list ingests in progress (filters such as ref~=^layer)')
      .argument('[filters...]', 'containerd filter expressions; several are ORed'),
    'print only the refs',
  ).action(async (filters: string[], flags: ListFlags) => {
    const c = await ctx.client();
    const res = await c.content.ListStatuses({ filters });
    const now = Date.now();
    printList<Status__Output>(res.statuses, flags, {
      id: (s) => s.ref,
      json: (s) => ({
        ref: s.ref,
        offset: s.offset,
        total: s.total,
        expected: s.expected || null,
        started_at: iso(ts(s.started_at)),
        updated_at: iso(ts(s.updated_at)),
      }),
      columns: [
        ['REF', (s) => s.ref],
        ['SIZE', (s) => (s.total > 0 ? `${formatSize(s.offset)} / ${formatSize(s.total)}` : formatSize(s.offset))],
        ['AGE', (s) => age(ts(s.started_at), now)],
      ],
    });
  });
}
