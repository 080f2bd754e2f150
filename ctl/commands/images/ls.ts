import type { Command } from 'commander';
import { fromTimestamp as ts } from '../../../api/timestamp.ts';
import type { Context } from '../../context.ts';
import { blobs } from '../../images/blobs.ts';
import { formatLabels, formatSize, iso, type ListFlags, listFlags, printList, sortedLabels } from '../../output.ts';
import { describe, descriptorJson, listImages, oci } from './describe.ts';

/** `berth images ls [filters...]`: the images with target, size and platforms. */
export function register(images: Command, ctx: Context) {
  listFlags(
    images
      .command('ls', { isDefault: true })
      .alias('list')
      .description('list images: ref, media type, digest, size and platforms (filters such as name~=busybox or labels.team==a)')
      .argument('[filters...]', 'containerd filter expressions; several are ORed'),
    'print only the image names',
  ).action(async (filters: string[], flags: ListFlags) => {
    const c = await ctx.client();
    const list = await listImages(c, filters);
    if (flags.quiet) return printList(list, flags, { id: (i) => i.name, json: () => null, columns: [] });
    const o = await oci();
    const { read } = blobs(c);
    const rows = await Promise.all(list.map((i) => describe(o, read, i)));
    printList(rows, flags, {
      id: (r) => r.image.name,
      json: (r) => ({
        name: r.image.name,
        target: descriptorJson(r.target),
        size: r.size ?? null,
        platforms: r.platforms,
        created_at: iso(ts(r.image.created_at)),
        updated_at: iso(ts(r.image.updated_at)),
        labels: sortedLabels(r.image.labels),
      }),
      columns: [
        ['REF', (r) => r.image.name],
        ['TYPE', (r) => r.target.mediaType],
        ['DIGEST', (r) => r.target.digest],
        ['SIZE', (r) => (r.size === undefined ? '-' : formatSize(r.size))],
        ['PLATFORMS', (r) => (r.platforms.length > 0 ? r.platforms.join(',') : '-')],
        ['LABELS', (r) => formatLabels(r.image.labels)],
      ],
    });
  });
}
