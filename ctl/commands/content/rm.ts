import type { Command } from 'commander';
import type { Context } from '../../context.ts';
import { forEachTarget } from '../../errors.ts';
import { checkDigest } from './check-digest.ts';

/** `berth content rm DIGEST...`: blobs deleted. */
export function register(content: Command, ctx: Context) {
  content
    .command('rm')
    .alias('remove')
    .alias('delete')
    .alias('del')
    .description('delete blobs, printing each digest deleted')
    .argument('<digests...>', 'digests of the blobs')
    .action(async (digests: string[]) => {
      const c = await ctx.client();
      await forEachTarget(
        digests,
        async (digest) => {
          await c.content.Delete({ digest: await checkDigest(digest) });
        },
        ctx.options,
      );
    });
}
