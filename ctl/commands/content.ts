import { once } from 'node:events';
import type { Command } from 'commander';
import type { Info__Output } from '../../api/gen/containerd/services/content/v1/Info.ts';
import type { Status__Output } from '../../api/gen/containerd/services/content/v1/Status.ts';
import { fromTimestamp as ts } from '../../api/timestamp.ts';
import type { Context } from '../context.ts';
import { forEachTarget } from '../errors.ts';
import { age, formatLabels, formatSize, iso, type ListFlags, listFlags, out, printList, sortedLabels } from '../output.ts';
import { collectLabel, parseLabels, parseSize } from '../parse.ts';

const chunkSize = 1 << 20;

/** Checks a digest argument before anything is sent (proto/digest.ts has the rules). */
async function checkDigest(digest: string): Promise<string> {
  const { parseDigest } = await import('../../core/digest.ts');
  parseDigest(digest);
  return digest;
}

/** Gathers a byte stream into pieces of `size` bytes (the last may be shorter). */
async function* rechunk(source: AsyncIterable<Buffer | string>, size: number): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let length = 0;
  for await (const piece of source) {
    const buf = typeof piece === 'string' ? Buffer.from(piece) : piece;
    parts.push(buf);
    length += buf.length;
    while (length >= size) {
      const all = Buffer.concat(parts, length);
      yield all.subarray(0, size);
      parts = [all.subarray(size)];
      length -= size;
    }
  }
  if (length > 0) yield Buffer.concat(parts, length);
}

/** `berth content ls|get|ingest|rm|label|active`: the content store, blobs by digest. */
export function register(program: Command, ctx: Context) {
  const content = program.command('content').description('manage the content store (blobs by digest)');

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

  content
    .command('get')
    .description("write a blob's bytes to stdout")
    .argument('<digest>', 'digest of the blob (sha256:...)')
    .action(async (digest: string) => {
      await checkDigest(digest);
      const c = await ctx.client();
      // Info first, as ctr does: a missing blob is a plain NotFound before any byte is written.
      const { info } = await c.content.Info({ digest });
      let written = 0;
      for await (const chunk of c.content.Read({ digest, offset: 0, size: 0 })) {
        written += chunk.data.length;
        if (!process.stdout.write(chunk.data)) await once(process.stdout, 'drain');
      }
      if (info && written !== info.size) throw new Error(`short read of ${digest}: got ${written} of ${info.size} bytes`);
    });

  content
    .command('ingest')
    .description('store the bytes read from stdin as a blob, and print its digest')
    .argument('<ref>', 'a name for the ingest, to resume or abort it by')
    .option('--expected-size <bytes>', 'fail unless the blob has this many bytes', parseSize)
    .option('--expected-digest <digest>', 'fail unless the blob has this digest')
    .option('--label <key=value>', 'label the blob (repeatable)', collectLabel, [])
    .action(async (ref: string, flags: { expectedSize?: number; expectedDigest?: string; label: string[] }) => {
      if (flags.expectedDigest) await checkDigest(flags.expectedDigest);
      const labels = Object.fromEntries(Object.entries(parseLabels(flags.label)).filter(([, v]) => v !== ''));
      if (process.stdin.isTTY) throw new Error('content ingest reads the blob from stdin: pipe or redirect it in');
      const c = await ctx.client();
      const [{ writeBlob }, { isCode }] = await Promise.all([import('../../transport/clients/content.ts'), import('../../core/errors.ts')]);
      try {
        const res = await writeBlob(c, rechunk(process.stdin, chunkSize), {
          ref,
          total: flags.expectedSize ?? 0,
          expected: flags.expectedDigest ?? '',
          labels,
        });
        if (!res.existed) out(`${res.digest}\n`);
      } catch (err) {
        // the namespace has the blob already: nothing to do, as with ctr
        if (isCode(err, 'AlreadyExists')) return;
        // The bytes are not the blob that was asked for: drop them rather than leave an ingest
        // behind that a stdin reader could never resume.
        if (isCode(err, 'FailedPrecondition')) await c.content.Abort({ ref }).catch(() => undefined);
        throw err;
      } finally {
        process.stdin.destroy();
      }
    });

  content
    .command('rm')
    .alias('remove')
    .alias('delete')
    .alias('del')
    .description('delete blobs, printing each digest deleted')
    .argument('<digests...>', 'digests of the blobs')
    .action(async (digests: string[]) => {
      const c = await ctx.client();
      await forEachTarget(
        digests,
        async (digest) => {
          await c.content.Delete({ digest: await checkDigest(digest) });
        },
        ctx.options,
      );
    });

  content
    .command('label')
    .description('set labels on a blob (key= removes one) and print its labels')
    .argument('<digest>', 'digest of the blob')
    .argument('[labels...]', 'labels as key=value; an empty value removes the label')
    .action(async (digest: string, labelArgs: string[]) => {
      await checkDigest(digest);
      const labels = parseLabels(labelArgs);
      const c = await ctx.client();
      let info: Info__Output | null;
      if (Object.keys(labels).length === 0) {
        info = (await c.content.Info({ digest })).info;
      } else {
        const set = Object.fromEntries(Object.entries(labels).filter(([, v]) => v !== ''));
        const paths = Object.keys(labels).map((k) => `labels.${k}`);
        info = (await c.content.Update({ info: { digest, labels: set }, update_mask: { paths } })).info;
      }
      const shown = formatLabels(info?.labels);
      if (shown !== '-') out(`${shown}\n`);
    });

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
