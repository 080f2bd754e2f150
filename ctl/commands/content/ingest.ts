import type { Command } from 'commander';
import type { Context } from '../../context.ts';
import { out } from '../../output.ts';
import { collectLabel, parseLabels, parseSize } from '../../parse.ts';
import { checkDigest } from './check-digest.ts';

const chunkSize = 1 << 20;

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

/** `berth content ingest REF`: stdin stored as a blob. */
export function register(content: Command, ctx: Context) {
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
      const [{ writeBlob }, { isCode }] = await Promise.all([import('../../../transport/clients/content.ts'), import('../../../core/errors.ts')]);
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
}
