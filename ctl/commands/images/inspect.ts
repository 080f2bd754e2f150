import type { Command } from 'commander';
import { fromTimestamp as ts } from '../../../api/timestamp.ts';
import type { Context } from '../../context.ts';
import { blobs } from '../../images/blobs.ts';
import { type Format, formatFlag, formatLabels, formatSize, iso, out, printJson, sortedLabels, table } from '../../output.ts';
import { check, describe, descriptorJson, oci, snapshotterOption } from './describe.ts';

/** `berth images inspect NAME`: an image record and which blobs of its tree are present. */
export function register(images: Command, ctx: Context) {
  formatFlag(
    images
      .command('inspect')
      .description('print an image record and which blobs of its tree (for this platform) are present')
      .argument('<name>', 'image name')
      .addOption(snapshotterOption()),
  ).action(async (name: string, flags: { format: Format; snapshotter: string }) => {
    const c = await ctx.client();
    const { image } = await c.images.Get({ name });
    if (!image) throw new Error(`no image in the answer for ${name}`);
    const o = await oci();
    const reader = blobs(c);
    const r = await check(o, c, reader, image, flags.snapshotter);
    const { platforms } = await describe(o, reader.read, image);
    const { has } = reader;
    // the whole tree walked: indexes and manifest, then config and layers
    const tree = r.resolved ? [...r.resolved.path, ...r.required] : [r.target];
    const present = await Promise.all(tree.map(has));
    const blobRows = tree.map((d, i) => ({ ...descriptorJson(d), present: present[i]! }));
    if (flags.format === 'json') {
      printJson({
        name: image.name,
        target: descriptorJson(r.target),
        labels: sortedLabels(image.labels),
        created_at: iso(ts(image.created_at)),
        updated_at: iso(ts(image.updated_at)),
        platforms,
        available: r.available,
        complete: r.complete,
        unpacked: r.unpacked,
        blobs: blobRows,
      });
      return;
    }
    const fields: Array<[string, string]> = [
      ['Name', image.name],
      ['MediaType', r.target.mediaType],
      ['Digest', r.target.digest],
      ['Size', formatSize(r.target.size)],
      ['Platforms', platforms.join(',') || '-'],
      ['Labels', formatLabels(image.labels)],
      ['Created', iso(ts(image.created_at)) ?? '-'],
      ['Updated', iso(ts(image.updated_at)) ?? '-'],
      ['Complete', `${r.complete} (${r.present.length}/${r.available ? r.required.length : '?'} blobs present)`],
      ['Unpacked', String(r.unpacked)],
    ];
    out(fields.map(([k, v]) => `${`${k}:`.padEnd(11)}${v}\n`).join(''));
    out('\n');
    out(
      table(
        ['TYPE', 'DIGEST', 'SIZE', 'PRESENT'],
        blobRows.map((b) => [b.mediaType, b.digest, formatSize(b.size), b.present ? 'yes' : 'no']),
      ),
    );
  });
}
