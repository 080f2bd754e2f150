import { createReadStream, existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { type Command, Option } from 'commander';
import type { MountsResponse__Output } from '../../api/gen/containerd/services/snapshots/v1/MountsResponse.ts';
import type { Context } from '../context.ts';
import { printJson } from '../output.ts';
import { collectLabel, parseLabels, rfc3339 } from '../parse.ts';

const gcRoot = 'containerd.io/gc.root';
const digestPattern = /^sha256:[0-9a-f]{64}$/;

/** The layer media type the first bytes show: gzip, zstd or a plain tar. */
function mediaTypeOf(head: Uint8Array): string {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'application/vnd.oci.image.layer.v1.tar+gzip';
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'application/vnd.oci.image.layer.v1.tar+zstd';
  return 'application/vnd.oci.image.layer.v1.tar';
}

/** `berth layer apply|diff`: the diff service, onto and from snapshots. */
export function register(program: Command, ctx: Context) {
  const layer = program.command('layer').description('apply layers onto snapshots and make layers from them (the diff service)');
  const snapshotterOption = () => new Option('--snapshotter <name>', 'snapshotter of the snapshot').env('BERTH_SNAPSHOTTER').default('overlayfs');

  layer
    .command('apply')
    .description('apply a layer (a file, which is first stored in the content store, or a blob digest) onto an active snapshot')
    .argument('<layer>', 'a layer file (tar, tar+gzip or tar+zstd) or the digest of a blob in the content store')
    .argument('<key>', 'key of the active snapshot')
    .addOption(snapshotterOption())
    .option('--media-type <type>', 'media type of the layer (default: from its first bytes)')
    .action(async (source: string, key: string, flags: { snapshotter: string; mediaType?: string }) => {
      const c = await ctx.client();
      let desc: { media_type: string; digest: string; size: number };
      if (digestPattern.test(source) && !existsSync(source)) {
        const { info } = await c.content.Info({ digest: source });
        let head = Buffer.alloc(0);
        for await (const chunk of c.content.Read({ digest: source, offset: 0, size: 4 })) head = Buffer.concat([head, chunk.data]);
        desc = { media_type: flags.mediaType ?? mediaTypeOf(head), digest: source, size: Number(info!.size) };
      } else {
        const fh = await open(source, 'r');
        const head = Buffer.alloc(4);
        await fh.read(head, 0, 4, 0).finally(() => fh.close());
        const { writeBlob } = await import('../../transport/clients/content.ts');
        // a gc root label keeps the blob: nothing else refers to it yet
        const res = await writeBlob(c, createReadStream(source, { highWaterMark: 1 << 20 }), {
          ref: `layer-apply-${basename(source)}-${Date.now()}`,
          labels: { [gcRoot]: rfc3339(Date.now()) },
        });
        desc = { media_type: flags.mediaType ?? mediaTypeOf(head), digest: res.digest, size: res.size };
      }
      const { mounts } = await c.snapshots.Mounts({ snapshotter: flags.snapshotter, key });
      const { applied } = await c.diff.Apply({ diff: desc, mounts });
      printJson({ layer: desc, applied: { media_type: applied?.media_type, digest: applied?.digest, size: Number(applied?.size ?? 0) } });
    });

  layer
    .command('diff')
    .description('make a layer of the changes in an active snapshot against its parent, store it, and print its descriptor')
    .argument('<key>', 'key of the active snapshot')
    .addOption(snapshotterOption())
    .option('--ref <ref>', 'ingest reference for the new blob')
    .option('--media-type <type>', 'media type of the layer', 'application/vnd.oci.image.layer.v1.tar+gzip')
    .option('--label <key=value>', 'label the blob (repeatable; a gc root label is added unless given)', collectLabel, [])
    .action(async (key: string, flags: { snapshotter: string; ref?: string; mediaType: string; label: string[] }) => {
      const c = await ctx.client();
      const s = c.snapshots;
      const snapshotter = flags.snapshotter;
      const { info } = await s.Stat({ snapshotter, key });
      const { mounts: right } = await s.Mounts({ snapshotter, key });
      // the parent is seen through a temporary view, as ctr snapshots diff does
      const viewKey = info?.parent ? `${key}-layer-diff-parent-${process.pid}-${Date.now()}` : undefined;
      let left: MountsResponse__Output['mounts'] = [];
      if (viewKey) left = (await s.View({ snapshotter, key: viewKey, parent: info!.parent, labels: {} })).mounts;
      try {
        const labels = { [gcRoot]: rfc3339(Date.now()), ...parseLabels(flags.label) };
        const { diff } = await c.diff.Diff({ left, right, media_type: flags.mediaType, ref: flags.ref ?? '', labels });
        const { info: blob } = await c.content.Info({ digest: diff?.digest });
        printJson({ media_type: diff?.media_type, digest: diff?.digest, size: Number(diff?.size ?? 0), diff_id: blob?.labels['containerd.io/uncompressed'] });
      } finally {
        if (viewKey) await s.Remove({ snapshotter, key: viewKey }).catch(() => undefined);
      }
    });
}
