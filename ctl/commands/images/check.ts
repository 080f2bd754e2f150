import type { Command } from 'commander';
import type { Context } from '../../context.ts';
import { ExitError } from '../../errors.ts';
import { blobs } from '../../images/blobs.ts';
import { formatSize, type ListFlags, listFlags, printList, warn } from '../../output.ts';
import { type Checked, check, descriptorJson, listImages, oci, snapshotterOption } from './describe.ts';

/** `berth images check [filters...]`: whether each image's blobs are all present, and whether it is unpacked. */
export function register(images: Command, ctx: Context) {
  listFlags(
    images
      .command('check')
      .description('check that every blob of each image is present for this platform, and whether it is unpacked')
      .argument('[filters...]', 'containerd filter expressions; several are ORed')
      .addOption(snapshotterOption()),
    'print only the names of complete images',
  ).action(async (filters: string[], flags: ListFlags & { snapshotter: string }) => {
    const c = await ctx.client();
    const o = await oci();
    const reader = blobs(c);
    const rows: Checked[] = [];
    let failed = false;
    for (const image of await listImages(c, filters)) {
      try {
        rows.push({ name: image.name, ...(await check(o, c, reader, image, flags.snapshotter)) });
      } catch (err) {
        failed = true;
        warn(`berth: cannot check ${image.name}: ${(err as Error).message}`);
      }
    }
    const status = (r: Checked) =>
      r.available ? `${r.missing.length > 0 ? 'incomplete' : 'complete'} (${r.present.length}/${r.required.length})` : `unavailable (${r.present.length}/?)`;
    const size = (r: Checked) => `${formatSize(r.presentSize)}/${r.available ? formatSize(r.requiredSize) : '?'}`;
    printList(flags.quiet ? rows.filter((r) => r.complete) : rows, flags, {
      id: (r) => r.name,
      json: (r) => ({
        name: r.name,
        target: descriptorJson(r.target),
        available: r.available,
        complete: r.complete,
        unpacked: r.unpacked,
        present: r.present.map(descriptorJson),
        missing: r.missing.map(descriptorJson),
      }),
      columns: [
        ['REF', (r) => r.name],
        ['TYPE', (r) => r.target.mediaType],
        ['DIGEST', (r) => r.target.digest],
        ['STATUS', status],
        ['SIZE', size],
        ['UNPACKED', (r) => String(r.unpacked)],
      ],
    });
    if (failed) throw new ExitError(1);
  });
}
