import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import type { Volume__Output } from '../../api/gen/berth/services/volumes/v1/Volume.ts';
import { Volumes } from '../../api/services.ts';
import { fromTimestamp } from '../../api/timestamp.ts';
import type { Context } from '../context.ts';
import { describeError, ExitError, forEachTarget } from '../errors.ts';
import { formatSize, type ListFlags, listFlags, out, printJson, printList, sortedLabels } from '../output.ts';
import { collectLabel, parseLabels, rfc3339 } from '../parse.ts';

const isCode = (err: unknown, code: string) => (err as { code?: string }).code === code;

/** containerd has no volumes: a daemon without berth's Volumes service gets one clear line. */
function needsBerthd(err: unknown, address: string): never {
  if (isCode(err, 'Unimplemented')) {
    throw new Error(`berth volume needs berthd: the daemon at ${address} has no berth.services.volumes.v1.Volumes service (containerd has no volumes)`);
  }
  throw err;
}

/** What `volume inspect` prints for a volume, in Docker's shape. */
const inspected = (v: Volume__Output) => {
  const created = fromTimestamp(v.created_at);
  return {
    CreatedAt: created === undefined ? '' : rfc3339(created),
    Driver: 'local',
    Labels: sortedLabels(v.labels),
    Mountpoint: v.mountpoint,
    Name: v.name,
    Options: {},
    Scope: 'local',
  };
};

/** Asks on the terminal; anything but y or yes is no (and so is the end of the input). */
async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    const answer = await new Promise<string>((resolve) => {
      rl.on('close', () => resolve(''));
      rl.question(question, resolve);
    });
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

/** `berth volume create|ls|inspect|rm|prune`: berthd's volumes (berth.services.volumes.v1.Volumes). */
export function register(program: Command, ctx: Context) {
  const vol = program.command('volume').alias('volumes').description("manage volumes (berthd's local volumes)");
  const client = async () => (await ctx.client()).service(Volumes);
  const orNeedsBerthd = (err: unknown) => needsBerthd(err, ctx.options.address);

  vol
    .command('create')
    .description('create a volume and print its name (without a name: a random one)')
    .argument('[name]', 'volume name: [a-zA-Z0-9][a-zA-Z0-9_.-]*, up to 128')
    .option('--label <key=value>', 'volume label (repeatable)', collectLabel)
    .option('-d, --driver <name>', 'volume driver (only local)', 'local')
    .option('-o, --opt <key=value>', 'driver option (the local driver of berth takes none)', collectLabel)
    .addHelpText('after', '\nExamples:\n  berth volume create data\n  berth volume create --label app=web web-data')
    .action(async (name: string | undefined, opts: { label?: string[]; driver: string; opt?: string[] }) => {
      if (opts.driver !== 'local') throw new Error(`volume driver "${opts.driver}" is not supported: berthd has the local driver only`);
      if (opts.opt) throw new Error(`driver option "${opts.opt[0]}" is not supported: berthd's local volumes are plain directories`);
      const labels = parseLabels(opts.label ?? []);
      const res = await (await client()).Create({ name: name ?? '', labels, anonymous: false }).catch(orNeedsBerthd);
      out(`${res.volume?.name ?? name}\n`);
    });

  listFlags(vol.command('ls').alias('list').description('list volumes'), 'print only the volume names')
    .option('-f, --filter <filter>', 'name=NAME, label=KEY[=VALUE], dangling=true|false or driver=local (repeatable)', collectLabel)
    .addHelpText('after', '\nExamples:\n  berth volume ls\n  berth volume ls -q --filter dangling=true\n  berth volume ls --filter label=app=web --format json')
    .action(async (flags: ListFlags & { filter?: string[] }) => {
      const res = await (await client()).List({ filters: flags.filter ?? [] }).catch(orNeedsBerthd);
      printList<Volume__Output>(res.volumes, flags, {
        id: (v) => v.name,
        json: inspected,
        columns: [
          ['DRIVER', () => 'local'],
          ['VOLUME NAME', (v) => v.name],
          ['MOUNTPOINT', (v) => v.mountpoint],
        ],
      });
    });

  vol
    .command('inspect')
    .description('print volumes as a JSON array')
    .argument('<names...>', 'volume names')
    .addHelpText('after', '\nExample:\n  berth volume inspect data')
    .action(async (names: string[]) => {
      const c = await client();
      const found: unknown[] = [];
      let failed = false;
      for (const name of names) {
        try {
          const res = await c.Get({ name }).catch(orNeedsBerthd);
          if (res.volume) found.push(inspected(res.volume));
        } catch (err) {
          if (!isCode(err, 'NotFound') && !isCode(err, 'InvalidArgument')) throw err;
          failed = true;
          process.stderr.write(`berth: ${describeError(err, ctx.options)}\n`);
        }
      }
      printJson(found);
      if (failed) throw new ExitError(1);
    });

  vol
    .command('rm')
    .alias('remove')
    .description('remove volumes and their data (not one a container uses, even with -f)')
    .argument('<names...>', 'volume names')
    .option('-f, --force', 'no error for a volume that does not exist')
    .addHelpText('after', '\nExamples:\n  berth volume rm data\n  berth volume rm -f data old-data')
    .action(async (names: string[], opts: { force?: boolean }) => {
      const c = await client();
      await forEachTarget(
        names,
        async (name) => {
          await c.Delete({ name }).catch((err: unknown) => {
            if (opts.force && isCode(err, 'NotFound')) return;
            orNeedsBerthd(err);
          });
        },
        ctx.options,
      );
    });

  vol
    .command('prune')
    .description('remove the anonymous volumes no container uses (with -a: every unused volume)')
    .option('-a, --all', 'named volumes too, not only anonymous ones')
    .option('-f, --force', 'do not ask for confirmation')
    .option('--filter <filter>', 'only volumes with a label: label=KEY[=VALUE] (repeatable)', collectLabel)
    .addHelpText('after', '\nExamples:\n  berth volume prune\n  berth volume prune -a -f')
    .action(async (opts: { all?: boolean; force?: boolean; filter?: string[] }) => {
      const c = await client();
      if (!opts.force) {
        // against containerd, the one-line error rather than a question first
        await c.List({ filters: ['name=-'] }).catch(orNeedsBerthd);
        const which = opts.all ? 'all local volumes' : 'anonymous local volumes';
        if (!(await confirm(`WARNING! This will remove ${which} not used by at least one container.\nAre you sure you want to continue? [y/N] `))) {
          out('Nothing removed.\n');
          return;
        }
      }
      const res = await c.Prune({ all: Boolean(opts.all), filters: opts.filter ?? [] }).catch(orNeedsBerthd);
      if (res.removed.length > 0) out(`Deleted Volumes:\n${res.removed.map((v) => `${v.name}\n`).join('')}\n`);
      out(`Total reclaimed space: ${formatSize(Number(res.reclaimed_bytes))}\n`);
    });
}
