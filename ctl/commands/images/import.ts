import { type Command, Option } from 'commander';
import type { Context } from '../../context.ts';
import { type Format, formatFlag, out, printJson, warn } from '../../output.ts';
import { descriptorJson } from './describe.ts';

/** `berth images import FILE`: images from an OCI layout or `docker save` archive, unpacked unless --no-unpack. */
export function register(images: Command, ctx: Context) {
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
        import('../../images/import.ts'),
        import('../../../core/platform.ts'),
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
          const { unpackImage } = await import('./pull.ts');
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
}
