import type { Command } from 'commander';
import type { Plugin__Output } from '../../api/gen/containerd/services/introspection/v1/Plugin.ts';
import type { Platform__Output } from '../../api/gen/containerd/types/Platform.ts';
import type { Context } from '../context.ts';
import { type ListFlags, listFlags, out, printList, sortedLabels } from '../output.ts';

// gRPC status code names, for a plugin's init error.
const grpcCodeNames = [
  'OK',
  'Canceled',
  'Unknown',
  'InvalidArgument',
  'DeadlineExceeded',
  'NotFound',
  'AlreadyExists',
  'PermissionDenied',
  'ResourceExhausted',
  'FailedPrecondition',
  'Aborted',
  'OutOfRange',
  'Unimplemented',
  'Internal',
  'Unavailable',
  'DataLoss',
  'Unauthenticated',
];

const platform = (p: Platform__Output) => [p.os, p.architecture, p.variant].filter((s) => s).join('/');
const platforms = (p: Plugin__Output) => (p.platforms.length > 0 ? p.platforms.map(platform).join(',') : '-');

/** ok, skip or error, the way ctr tells them apart. */
export function pluginStatus(p: Plugin__Output): 'ok' | 'skip' | 'error' {
  if (!p.init_err) return 'ok';
  return p.init_err.message.includes('skip plugin') ? 'skip' : 'error';
}

function detailed(plugins: Plugin__Output[]): string {
  const blocks = plugins.map((p) => {
    const lines: Array<[string, string]> = [
      ['Type', p.type],
      ['ID', p.id],
    ];
    if (p.requires.length > 0) lines.push(['Requires', p.requires.join(', ')]);
    if (p.platforms.length > 0) lines.push(['Platforms', platforms(p)]);
    for (const [k, v] of Object.entries(sortedLabels(p.exports))) lines.push(['Exports', `${k}=${v}`]);
    if (p.capabilities.length > 0) lines.push(['Capabilities', p.capabilities.join(',')]);
    lines.push(['Status', pluginStatus(p)]);
    if (p.init_err) lines.push(['Error', `${grpcCodeNames[p.init_err.code] ?? p.init_err.code}: ${p.init_err.message}`]);
    return lines.map(([k, v], i) => `${(lines[i - 1]?.[0] === k ? '' : `${k}:`).padEnd(15)}${v}\n`).join('');
  });
  return blocks.join('\n');
}

/** `berth plugins ls [filters]`: what the daemon loaded, and whether each plugin started. */
export function register(program: Command, ctx: Context) {
  const plugins = program.command('plugins').alias('plugin').description("inspect the daemon's plugins");
  listFlags(
    plugins
      .command('ls')
      .alias('list')
      .description('list plugins (filters such as type==io.containerd.grpc.v1 or id==content)')
      .argument('[filters...]', 'containerd filter expressions; several are ORed')
      .option('-d, --detailed', 'print every field of each plugin'),
    'print only the plugin ids',
  ).action(async (filters: string[], flags: ListFlags & { detailed?: boolean }) => {
    const c = await ctx.client({ namespaced: false });
    const res = await c.introspection.Plugins({ filters });
    if (flags.detailed && !flags.quiet && flags.format === 'table') {
      out(detailed(res.plugins));
      return;
    }
    printList(res.plugins, flags, {
      id: (p) => p.id,
      json: (p) => ({
        type: p.type,
        id: p.id,
        requires: p.requires,
        platforms: p.platforms.map(platform),
        exports: sortedLabels(p.exports),
        capabilities: p.capabilities,
        status: pluginStatus(p),
        error: p.init_err ? { code: grpcCodeNames[p.init_err.code] ?? p.init_err.code, message: p.init_err.message } : null,
      }),
      columns: [
        ['TYPE', (p) => p.type],
        ['ID', (p) => p.id],
        ['PLATFORMS', platforms],
        ['STATUS', pluginStatus],
      ],
    });
  });
}
