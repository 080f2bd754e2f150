import type { Command } from 'commander';
import type { Context } from '../../context.ts';
import { forEachTarget } from '../../errors.ts';

/** `berth images rm NAMES...`: deleting image records. */
export function register(images: Command, ctx: Context) {
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
