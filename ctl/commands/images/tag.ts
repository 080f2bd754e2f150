import type { Command } from 'commander';
import type { Context } from '../../context.ts';
import { out } from '../../output.ts';

/** `berth images tag SOURCE TARGETS...`: more names for an image. */
export function register(images: Command, ctx: Context) {
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
}
