import { once } from 'node:events';
import type { Command } from 'commander';
import type { Context } from '../../context.ts';
import { checkDigest } from './check-digest.ts';

/** `berth content get DIGEST`: a blob's bytes to stdout. */
export function register(content: Command, ctx: Context) {
  content
    .command('get')
    .description("write a blob's bytes to stdout")
    .argument('<digest>', 'digest of the blob (sha256:...)')
    .action(async (digest: string) => {
      await checkDigest(digest);
      const c = await ctx.client();
      // Info first, as ctr does: a missing blob is a plain NotFound before any byte is written.
      const { info } = await c.content.Info({ digest });
      let written = 0;
      for await (const chunk of c.content.Read({ digest, offset: 0, size: 0 })) {
        written += chunk.data.length;
        if (!process.stdout.write(chunk.data)) await once(process.stdout, 'drain');
      }
      if (info && written !== info.size) throw new Error(`short read of ${digest}: got ${written} of ${info.size} bytes`);
    });
}
