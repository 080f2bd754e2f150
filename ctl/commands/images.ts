import { type Command, Option } from 'commander';
import type { Image__Output } from '../../api/gen/containerd/services/images/v1/Image.ts';
import { fromTimestamp as ts } from '../../api/timestamp.ts';
import type { OciDescriptor } from '../../core/oci/image.ts';
import type { BerthClient } from '../../transport/client.ts';
import type { Context } from '../context.ts';
import { ExitError, forEachTarget } from '../errors.ts';
import { blobs, isNotFound } from '../images/blobs.ts';
import {
  type Format,
  formatFlag,
  formatLabels,
  formatSize,
  iso,
  type ListFlags,
  listFlags,
  out,
  printJson,
  printList,
  sortedLabels,
  table,
  warn,
} from '../output.ts';
import { registerPull } from './images-pull.ts';
import { registerPush } from './images-push.ts';

type Oci = typeof import('../../core/oci/image.ts');

/** The image tree helpers, loaded when a command needs them. */
const oci = (): Promise<Oci> => import('../../core/oci/image.ts');

const targetOf = (i: Image__Output): OciDescriptor => ({
  mediaType: i.target?.media_type ?? '',
  digest: i.target?.digest ?? '',
  size: Number(i.target?.size ?? 0),
  annotations: i.target?.annotations ?? {},
});

async function listImages(c: BerthClient, filters: string[]): Promise<Image__Output[]> {
  return (await c.images.List({ filters })).images;
}

/** Size and platforms of an image as ctr works them out; unreadable trees give undefined / []. */
async function describe(o: Oci, read: (d: OciDescriptor) => Promise<Buffer | undefined>, image: Image__Output) {
  const target = targetOf(image);
  const size = await o.imageSize(read, target).catch(() => undefined);
  const platforms = await o.imagePlatforms(read, target).catch(() => [] as string[]);
  return { image, target, size, platforms };
}

/** Present and required blobs, and whether the image's layers are unpacked in a snapshotter. */
async function check(o: Oci, c: BerthClient, { read, has }: ReturnType<typeof blobs>, image: Image__Output, snapshotter: string) {
  const target = targetOf(image);
  const result = await o.checkImage(read, has, target);
  let unpacked = false;
  if (result.resolved) {
    const diffs = await o.diffIds(read, result.resolved.config).catch(() => [] as string[]);
    if (diffs.length > 0) {
      unpacked = await c.snapshots.Stat({ snapshotter, key: o.chainId(diffs) }).then(
        () => true,
        (err) => {
          if (isNotFound(err)) return false;
          throw err;
        },
      );
    }
  }
  const sum = (ds: OciDescriptor[]) => ds.reduce((n, d) => n + d.size, 0);
  const complete = result.available && result.missing.length === 0;
  return { ...result, target, unpacked, complete, presentSize: sum(result.present), requiredSize: sum(result.required) };
}

type Checked = Awaited<ReturnType<typeof check>> & { name: string };

const descriptorJson = (d: OciDescriptor) => ({
  mediaType: d.mediaType,
  digest: d.digest,
  size: d.size,
  ...(d.platform ? { platform: d.platform } : {}),
  ...(d.annotations && Object.keys(d.annotations).length > 0 ? { annotations: sortedLabels(d.annotations) } : {}),
});

const snapshotterOption = () => new Option('--snapshotter <name>', 'snapshotter to look for unpacked layers in').env('BERTH_SNAPSHOTTER').default('overlayfs');

/** `berth images ls|check|inspect|usage|tag|rm|import|export`: image records (name → target) and their trees of blobs. */
export function register(program: Command, ctx: Context) {
  const images = program.command('images').alias('image').alias('i').description('manage images (names for trees of content)');
  registerPush(images, ctx);
  registerPull(images, ctx);

  listFlags(
    images
      .command('ls')
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

  images
    .command('tag')
    .description('give an image more names, printing each new name')
    .argument('<source>', 'existing image name')
    .argument('<targets...>', 'new names')
    .option('-f, --force', 'point an existing name at the source image')
    .action(async (source: string, targets: string[], flags: { force?: boolean }) => {
      const c = await ctx.client();
      const { image } = await c.images.Get({ name: source });
      if (!image) throw new Error(`no image in the answer for ${source}`);
      for (const name of targets) {
        const record = { name, labels: image.labels, target: image.target };
        try {
          await c.images.Create({ image: record });
        } catch (err) {
          if ((err as { code?: string }).code !== 'AlreadyExists' || !flags.force) throw err;
          // one update replaces the labels and the target: the name never points nowhere
          await c.images.Update({ image: record });
        }
        out(`${name}\n`);
      }
    });

  formatFlag(
    images
      .command('import')
      .description('import images from an OCI image layout or `docker save` tar archive (a file, or - for stdin), printing each image name made')
      .argument('<file>', 'the archive, or - to read it from stdin')
      .option('--base-name <name>', 'base image name for tags in the archive; only names under it are imported (default: import-YYYY-MM-DD)')
      .option('--index-name <name>', "also keep the archive's index as an image of this name")
      .option('--digests', 'also name each image <base-name>@<digest>')
      .option('--all-platforms', 'import every platform (all their blobs must be in the archive or the store)')
      .option('--platform <platform>', "import this platform (os/arch[/variant]) instead of the host's")
      .option('--no-unpack', 'do not unpack the imported images into snapshots')
      .addOption(new Option('--snapshotter <name>', 'snapshotter to unpack into').env('BERTH_SNAPSHOTTER').default('overlayfs')),
  ).action(
    async (
      file: string,
      flags: {
        format: Format;
        baseName?: string;
        indexName?: string;
        digests?: boolean;
        allPlatforms?: boolean;
        platform?: string;
        unpack: boolean;
        snapshotter: string;
      },
    ) => {
      if (file === '-' && process.stdin.isTTY) throw new Error('images import - reads the archive from stdin: pipe or redirect it in');
      const [{ importArchive }, { parsePlatform }, { open }] = await Promise.all([
        import('../images/import.ts'),
        import('../images/tree.ts'),
        import('node:fs/promises'),
      ]);
      const platform = flags.platform ? parsePlatform(flags.platform) : undefined;
      const source = file === '-' ? process.stdin : (await open(file)).createReadStream({ highWaterMark: 1 << 20 });
      const c = await ctx.client();
      try {
        const made = await importArchive(c, source, {
          baseName: flags.baseName,
          indexName: flags.indexName,
          digests: flags.digests,
          allPlatforms: flags.allPlatforms,
          platform,
        });
        if (flags.format === 'json') printJson(made.map((i) => ({ name: i.name, target: descriptorJson(i.target) })));
        else for (const i of made) out(`${i.name}\n`);
        if (made.length === 0) warn('berth: the archive named no image for this platform (see --base-name, --digests, --index-name, --all-platforms)');
        // as ctr: each image made is unpacked for the platform (once per target)
        if (flags.unpack) {
          const { unpackImage } = await import('./images-pull.ts');
          const done = new Set<string>();
          for (const i of made) {
            if (done.has(i.target.digest)) continue;
            done.add(i.target.digest);
            await unpackImage(ctx, i.name, { platform: flags.platform, snapshotter: flags.snapshotter });
          }
        }
      } finally {
        source.destroy();
      }
    },
  );

  images
    .command('export')
    .description("write images as an OCI image layout tar (with Docker's manifest.json) that ctr images import and docker load accept")
    .argument('<file>', 'the archive to write, or - for stdout')
    .argument('<names...>', 'image names')
    .option('--platform <platform>', "export this platform (os/arch[/variant]; repeatable) instead of the host's", (v: string, all: string[] | undefined) => [
      ...(all ?? []),
      v,
    ])
    .option('--all-platforms', 'export every platform of each image; all their blobs must be present')
    .action(async (file: string, names: string[], flags: { platform?: string[]; allPlatforms?: boolean }) => {
      const [{ exportImages }, { parsePlatform }, fs] = await Promise.all([import('../images/export.ts'), import('../images/tree.ts'), import('node:fs')]);
      const platforms = (flags.platform ?? []).map(parsePlatform);
      const c = await ctx.client();
      const opts = { platforms, allPlatforms: flags.allPlatforms };
      if (file === '-') {
        if (process.stdout.isTTY) throw new Error('images export - writes a tar archive to stdout: redirect it to a file or a pipe');
        return exportImages(c, process.stdout, names, opts);
      }
      // written beside the target and renamed into place: a failed export leaves no partial file
      const tmp = `${file}.berth-${process.pid}.tmp`;
      const stream = fs.createWriteStream(tmp, { mode: 0o644 });
      try {
        await exportImages(c, stream, names, opts);
        await new Promise<void>((resolve, reject) => stream.end((err?: Error | null) => (err ? reject(err) : resolve())));
        fs.renameSync(tmp, file);
      } catch (err) {
        stream.destroy();
        fs.rmSync(tmp, { force: true });
        throw err;
      }
    });

  images
    .command('rm')
    .alias('remove')
    .alias('delete')
    .alias('del')
    .description('delete images by name, printing each name deleted')
    .argument('<names...>', 'image names')
    .option('--sync', 'wait until the garbage collector has removed what only these images held')
    .action(async (names: string[], flags: { sync?: boolean }) => {
      const c = await ctx.client();
      const last = names.length - 1;
      let i = 0;
      // as ctr: only the last delete waits for the collection, which covers them all
      await forEachTarget(
        names,
        async (name) => {
          const isLast = i++ === last;
          await c.images.Delete({ name, sync: Boolean(flags.sync) && isLast });
        },
        ctx.options,
      );
    });
}
