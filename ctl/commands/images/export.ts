import type { Command } from 'commander';
import type { Context } from '../../context.ts';

/** `berth images export FILE NAMES...`: images written as an OCI image layout tar. */
export function register(images: Command, ctx: Context) {
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
      const [{ exportImages }, { parsePlatform }, fs] = await Promise.all([
        import('../../images/export.ts'),
        import('../../../core/platform.ts'),
        import('node:fs'),
      ]);
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
}
