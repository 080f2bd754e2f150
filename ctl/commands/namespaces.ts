import type { Command } from 'commander';
import type { Namespace__Output } from '../../api/gen/containerd/services/namespaces/v1/Namespace.ts';
import type { Context } from '../context.ts';
import { forEachTarget } from '../errors.ts';
import { formatLabels, type ListFlags, listFlags, out, printList, sortedLabels } from '../output.ts';
import { parseLabels } from '../parse.ts';

const nonEmpty = (labels: Record<string, string>) => Object.fromEntries(Object.entries(labels).filter(([, v]) => v !== ''));

/** `berth namespaces create|ls|rm|label`. Namespaces themselves are not namespaced: -n is not used. */
export function register(program: Command, ctx: Context) {
  const ns = program.command('namespaces').alias('ns').alias('namespace').description('manage namespaces');

  ns.command('create')
    .alias('c')
    .description('create a namespace, with optional labels')
    .argument('<name>', 'namespace name')
    .argument('[labels...]', 'labels as key=value')
    .action(async (name: string, labelArgs: string[]) => {
      const labels = nonEmpty(parseLabels(labelArgs));
      const c = await ctx.client({ namespaced: false });
      await c.namespaces.Create({ namespace: { name, labels } });
    });

  listFlags(ns.command('ls').alias('list').description('list namespaces'), 'print only the namespace names').action(async (flags: ListFlags) => {
    const c = await ctx.client({ namespaced: false });
    const res = await c.namespaces.List({ filter: '' });
    const items = [...res.namespaces].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    printList<Namespace__Output>(items, flags, {
      id: (n) => n.name,
      json: (n) => ({ name: n.name, labels: sortedLabels(n.labels) }),
      columns: [
        ['NAME', (n) => n.name],
        ['LABELS', (n) => formatLabels(n.labels)],
      ],
    });
  });

  ns.command('rm')
    .alias('remove')
    .alias('delete')
    .description('remove namespaces; each must be empty')
    .argument('<names...>', 'namespace names')
    .action(async (names: string[]) => {
      const c = await ctx.client({ namespaced: false });
      await forEachTarget(
        names,
        async (name) => {
          await c.namespaces.Delete({ name });
        },
        ctx.options,
      );
    });

  ns.command('label')
    .description('set labels on a namespace (key= removes one) and print its labels')
    .argument('<name>', 'namespace name')
    .argument('[labels...]', 'labels as key=value; an empty value removes the label')
    .action(async (name: string, labelArgs: string[]) => {
      const labels = parseLabels(labelArgs);
      const c = await ctx.client({ namespaced: false });
      let result: Namespace__Output | null;
      if (Object.keys(labels).length === 0) {
        result = (await c.namespaces.Get({ name })).namespace;
      } else {
        const paths = Object.keys(labels).map((k) => `labels.${k}`);
        const req = { namespace: { name, labels: nonEmpty(labels) }, update_mask: { paths } };
        result = (await c.namespaces.Update(req)).namespace;
      }
      const shown = formatLabels(result?.labels);
      if (shown !== '-') out(`${shown}\n`);
    });
}
