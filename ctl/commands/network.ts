import type { Command } from 'commander';
import type { Network__Output } from '../../api/gen/berth/services/networks/v1/Network.ts';
import { Networks } from '../../api/services.ts';
import type { Context } from '../context.ts';
import { describeError, ExitError, forEachTarget } from '../errors.ts';
import { type ListFlags, listFlags, out, printJson, printList, sortedLabels } from '../output.ts';
import { collectLabel, parseLabels } from '../parse.ts';

const isCode = (err: unknown, code: string) => (err as { code?: string }).code === code;

/** containerd has no networks: a daemon without berth's Networks service gets one clear line. */
function needsBerthd(err: unknown, address: string): never {
  if (isCode(err, 'Unimplemented')) {
    throw new Error(`berth network needs berthd: the daemon at ${address} has no berth.services.networks.v1.Networks service (containerd has no networks)`);
  }
  throw err;
}

const summary = (n: Network__Output) => ({
  name: n.name,
  subnets: n.subnets,
  gateway: n.gateway,
  bridge: n.bridge,
  default: n.default,
  owner: n.owner,
  config_path: n.config_path,
  labels: sortedLabels(n.labels),
});

/** What `network inspect` prints: the summary and the configuration list itself. */
const detailed = (n: Network__Output) => ({ ...summary(n), config: JSON.parse(n.conflist) as unknown });

/** `berth network create|ls|inspect|rm`: berthd's CNI networks (berth.services.networks.v1.Networks). */
export function register(program: Command, ctx: Context) {
  const net = program.command('network').alias('networks').alias('net').description("manage networks (berthd's CNI networks)");
  const client = async () => (await ctx.client({ namespaced: false })).service(Networks);

  net
    .command('create')
    .description('create a bridge network and print its name')
    .argument('<name>', 'network name')
    .option('--subnet <cidr>', "IPv4 subnet (default: the first free /24 of the daemon's subnet_pool)")
    .option('--gateway <ip>', "gateway address inside the subnet (default: the subnet's first address)")
    .option('--label <key=value>', 'network label (repeatable)', collectLabel)
    .action(async (name: string, opts: { subnet?: string; gateway?: string; label?: string[] }) => {
      const labels = parseLabels(opts.label ?? []);
      const res = await (await client())
        .Create({ name, subnet: opts.subnet ?? '', gateway: opts.gateway ?? '', labels })
        .catch((err: unknown) => needsBerthd(err, ctx.options.address));
      out(`${res.network?.name ?? name}\n`);
    });

  listFlags(net.command('ls').alias('list').description('list networks'), 'print only the network names').action(async (flags: ListFlags) => {
    const res = await (await client()).List({}).catch((err: unknown) => needsBerthd(err, ctx.options.address));
    printList<Network__Output>(res.networks, flags, {
      id: (n) => n.name,
      json: summary,
      columns: [
        ['NAME', (n) => n.name],
        ['SUBNET', (n) => n.subnets.join(',') || '-'],
        ['GATEWAY', (n) => n.gateway || '-'],
        ['BRIDGE', (n) => n.bridge || '-'],
        ['DEFAULT', (n) => String(n.default)],
      ],
    });
  });

  net
    .command('inspect')
    .description('print networks as a JSON array')
    .argument('<names...>', 'network names')
    .action(async (names: string[]) => {
      const c = await client();
      const found: unknown[] = [];
      let failed = false;
      for (const name of names) {
        try {
          const res = await c.Get({ name }).catch((err: unknown) => needsBerthd(err, ctx.options.address));
          if (res.network) found.push(detailed(res.network));
        } catch (err) {
          if (!isCode(err, 'NotFound')) throw err;
          failed = true;
          process.stderr.write(`berth: ${describeError(err, ctx.options)}\n`);
        }
      }
      printJson(found);
      if (failed) throw new ExitError(1);
    });

  net
    .command('rm')
    .alias('remove')
    .description('remove networks (not the default one, a system one, or one in use)')
    .argument('<names...>', 'network names')
    .action(async (names: string[]) => {
      const c = await client();
      await forEachTarget(
        names,
        async (name) => {
          await c.Delete({ name }).catch((err: unknown) => needsBerthd(err, ctx.options.address));
        },
        ctx.options,
      );
    });
}
