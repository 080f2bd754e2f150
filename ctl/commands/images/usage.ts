import type { Command } from 'commander';
import { isNotFound } from '../../../core/errors.ts';
import type { Context } from '../../context.ts';
import { blobs } from '../../images/blobs.ts';
import { type Format, formatFlag, formatSize, out, printJson, table, warn } from '../../output.ts';
import { oci, snapshotterOption, targetOf } from './describe.ts';

/** `berth images usage NAME`: the disk use of an image's unpacked layers. */
export function register(images: Command, ctx: Context) {
  formatFlag(
    images
      .command('usage')
      .description("disk use of an image's unpacked layers: one snapshot per layer, named by its chain ID")
      .argument('<name>', 'image name')
      .option('-b', 'sizes in bytes')
      .addOption(snapshotterOption()),
  ).action(async (name: string, flags: { format: Format; snapshotter: string; b?: boolean }) => {
    const c = await ctx.client();
    const { image } = await c.images.Get({ name });
    if (!image) throw new Error(`no image in the answer for ${name}`);
    const o = await oci();
    const { read } = blobs(c);
    const { config } = await o.resolveManifest(read, targetOf(image));
    const diffs = await o.diffIds(read, config);
    const rows = [];
    for (const [i, chain] of o.chainIds(diffs).entries()) {
      const usage = await c.snapshots.Usage({ snapshotter: flags.snapshotter, key: chain }).catch((err) => {
        if (isNotFound(err)) return undefined;
        throw err;
      });
      rows.push({
        chain_id: chain,
        diff_id: diffs[i]!,
        unpacked: usage !== undefined,
        size: usage ? Number(usage.size) : null,
        inodes: usage ? Number(usage.inodes) : null,
      });
    }
    const total = rows.reduce((n, r) => n + (r.size ?? 0), 0);
    if (flags.format === 'json') return printJson({ name: image.name, snapshotter: flags.snapshotter, layers: rows, total });
    const size = (n: number | null) => (n === null ? '-' : flags.b ? String(n) : formatSize(n));
    out(
      table(
        ['CHAIN ID', 'SIZE', 'INODES'],
        [...rows.map((r) => [r.chain_id, size(r.size), r.inodes === null ? '-' : String(r.inodes)]), ['total', size(total), '']],
      ),
    );
    if (rows.some((r) => !r.unpacked)) warn(`berth: ${name} is not fully unpacked in ${flags.snapshotter}`);
  });
}
