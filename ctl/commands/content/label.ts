import type { Command } from 'commander';
import type { Info__Output } from '../../../api/gen/containerd/services/content/v1/Info.ts';
import type { Context } from '../../context.ts';
import { formatLabels, out } from '../../output.ts';
import { parseLabels } from '../../parse.ts';
import { checkDigest } from './check-digest.ts';

/** `berth content label DIGEST [key=value...]`: a blob's labels set and printed. */
export function register(content: Command, ctx: Context) {
  content
    .command('label')
    .description('set labels on a blob (key= removes one) and print its labels')
    .argument('<digest>', 'digest of the blob')
    .argument('[labels...]', 'labels as key=value; an empty value removes the label')
    .action(async (digest: string, labelArgs: string[]) => {
      await checkDigest(digest);
      const labels = parseLabels(labelArgs);
      const c = await ctx.client();
      let info: Info__Output | null;
      if (Object.keys(labels).length === 0) {
        info = (await c.content.Info({ digest })).info;
      } else {
        const set = Object.fromEntries(Object.entries(labels).filter(([, v]) => v !== ''));
        const paths = Object.keys(labels).map((k) => `labels.${k}`);
        info = (await c.content.Update({ info: { digest, labels: set }, update_mask: { paths } })).info;
      }
      const shown = formatLabels(info?.labels);
      if (shown !== '-') out(`${shown}\n`);
    });
}
