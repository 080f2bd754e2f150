import type { Command } from 'commander';
import type { Lease__Output } from '../../api/gen/containerd/services/leases/v1/Lease.ts';
import { fromTimestamp } from '../../api/timestamp.ts';
import type { Context } from '../context.ts';
import { forEachTarget } from '../errors.ts';
import { age, formatLabels, iso, type ListFlags, listFlags, out, printList, sortedLabels } from '../output.ts';
import { parseDuration, parseLabels, rfc3339 } from '../parse.ts';

/** The label the garbage collector reads a lease's expiry from (RFC 3339). */
export const expireLabel = 'containerd.io/gc.expire';

const expiry = (l: Lease__Output): number | undefined => {
  const v = l.labels[expireLabel];
  const ms = v === undefined ? NaN : Date.parse(v);
  return Number.isNaN(ms) ? undefined : ms;
};

const expires = (at: number | undefined, now: number) => (at === undefined ? 'never' : at <= now ? 'expired' : age(at, now));

/** `berth leases create|ls|rm`: leases keep what a client is working with from the garbage collector. */
export function register(program: Command, ctx: Context) {
  const leases = program.command('leases').alias('lease').description('manage leases');

  leases
    .command('create')
    .description('create a lease and print its id')
    .argument('[labels...]', 'labels as key=value')
    .option('--id <id>', 'the lease id (default: a random one from the daemon)')
    .option('-x, --expires <duration>', 'expire after this long (0: never)', parseDuration, 24 * 3_600_000)
    .action(async (labelArgs: string[], flags: { id?: string; expires: number }) => {
      const labels = parseLabels(labelArgs);
      if (flags.expires > 0) labels[expireLabel] = rfc3339(Date.now() + flags.expires);
      const c = await ctx.client();
      const res = await c.leases.Create({ id: flags.id ?? '', labels });
      out(`${res.lease?.id ?? flags.id ?? ''}\n`);
    });

  listFlags(
    leases
      .command('ls')
      .alias('list')
      .description('list leases (filters such as id==x or labels."containerd.io/gc.flat")')
      .argument('[filters...]', 'containerd filter expressions; several are ORed'),
    'print only the lease ids',
  ).action(async (filters: string[], flags: ListFlags) => {
    const c = await ctx.client();
    const res = await c.leases.List({ filters });
    const now = Date.now();
    printList(res.leases, flags, {
      id: (l) => l.id,
      json: (l) => ({ id: l.id, created_at: iso(fromTimestamp(l.created_at)), expires_at: iso(expiry(l)), labels: sortedLabels(l.labels) }),
      columns: [
        ['ID', (l) => l.id],
        ['CREATED', (l) => age(fromTimestamp(l.created_at), now)],
        ['EXPIRES', (l) => expires(expiry(l), now)],
        ['LABELS', (l) => formatLabels(l.labels)],
      ],
    });
  });

  leases
    .command('rm')
    .alias('remove')
    .alias('delete')
    .alias('del')
    .description('delete leases, printing each id deleted')
    .argument('<ids...>', 'lease ids')
    .option('--sync', 'wait until the garbage collector has removed what the leases held')
    .action(async (ids: string[], flags: { sync?: boolean }) => {
      const c = await ctx.client();
      const last = ids.length - 1;
      let i = 0;
      // as ctr: only the last delete waits for the collection, which covers them all
      await forEachTarget(
        ids,
        async (id) => {
          const isLast = i++ === last;
          await c.leases.Delete({ id, sync: Boolean(flags.sync) && isLast });
        },
        ctx.options,
      );
    });
}
