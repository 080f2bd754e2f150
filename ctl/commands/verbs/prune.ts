import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import type { BerthClient } from '../../../transport/client.ts';
import type { Context } from '../../context.ts';
import { formatSize, out } from '../../output.ts';

/** Asks before a prune, as Docker does; without a terminal's yes (or -f), nothing is removed. */
async function confirmed(question: string, force: boolean | undefined): Promise<boolean> {
  if (force) return true;
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await new Promise<string>((resolve) => {
      rl.question(`WARNING! ${question}\nAre you sure you want to continue? [y/N] `, resolve);
      rl.once('close', () => resolve(''));
    });
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

/** The disk a container's snapshot uses (0 if unknown): what removing it gives back. */
async function snapshotBytes(c: BerthClient, snapshotter: string, key: string): Promise<number> {
  if (!snapshotter || !key) return 0;
  try {
    return Number((await c.snapshots.Usage({ snapshotter, key })).size);
  } catch {
    return 0;
  }
}

/** Removes every container that does not run (stopped, created, or without a task); their ids and the space. */
export async function pruneContainers(c: BerthClient): Promise<{ removed: string[]; bytes: number }> {
  const [{ containerStates, isRunning }, { removeContainer }] = await Promise.all([import('./state.ts'), import('../containers.ts')]);
  const removed: string[] = [];
  let bytes = 0;
  for (const { container, task } of await containerStates(c, '')) {
    if (isRunning(task) || task?.status === 'PAUSED') continue;
    const size = await snapshotBytes(c, container.snapshotter, container.snapshot_key);
    try {
      await removeContainer(c, container.id);
      removed.push(container.id);
      bytes += size;
    } catch (err) {
      // started meanwhile, or removed by someone else: not ours to prune
      if ((err as { code?: string }).code !== 'NotFound' && !/running task/.test((err as Error).message)) throw err;
    }
  }
  return { removed, bytes };
}

/**
 * Removes images no container uses: with `all` every such image, else only those without a tag
 * (a name that is only a digest: what Docker calls dangling).
 */
export async function pruneImages(c: BerthClient, all: boolean): Promise<string[]> {
  const { listContainers } = await import('../containers.ts');
  const used = new Set((await listContainers(c, [])).map((k) => k.image));
  const removed: string[] = [];
  for (const image of (await c.images.List({ filters: [] })).images) {
    if (used.has(image.name)) continue;
    const dangling = /@sha256:[a-f0-9]{64}$/.test(image.name) && !/:[^/@]+@/.test(image.name);
    if (!all && !dangling) continue;
    await c.images.Delete({ name: image.name, sync: false }).then(
      () => removed.push(image.name),
      (err: { code?: string }) => {
        if (err.code !== 'NotFound') throw err;
      },
    );
  }
  return removed;
}

function report(kind: string, removed: string[], bytes?: number) {
  if (removed.length > 0) out(`Deleted ${kind}:\n${removed.map((r) => `${r}\n`).join('')}\n`);
  if (bytes !== undefined) out(`Total reclaimed space: ${formatSize(bytes)}\n`);
}

/** `berth containers prune`, `berth images prune`, `berth system prune`. */
export function registerContainerPrune(containers: Command, ctx: Context) {
  containers
    .command('prune')
    .description('remove every container that does not run, with its task and snapshot')
    .option('-f, --force', 'do not ask')
    .addHelpText('after', '\nExample:\n  berth containers prune -f')
    .action(async (flags: { force?: boolean }) => {
      if (!(await confirmed('This will remove all stopped containers.', flags.force))) return;
      const { removed, bytes } = await pruneContainers(await ctx.client());
      report('Containers', removed, bytes);
    });
}

export function registerImagePrune(images: Command, ctx: Context) {
  images
    .command('prune')
    .description('remove images no container uses: only those without a tag, or with -a all of them')
    .option('-a, --all', 'every image no container uses, tagged or not')
    .option('-f, --force', 'do not ask')
    .addHelpText('after', '\nExample:\n  berth images prune -a -f')
    .action(async (flags: { all?: boolean; force?: boolean }) => {
      const what = flags.all ? 'all images without at least one container associated to them' : 'all dangling images';
      if (!(await confirmed(`This will remove ${what}.`, flags.force))) return;
      report('Images', await pruneImages(await ctx.client(), Boolean(flags.all)));
    });
}

export function register(program: Command, ctx: Context) {
  const system = program.command('system').description('the whole of berthd: prune');
  system
    .command('prune')
    .description('remove stopped containers, then images no container uses (without a tag, or all with -a)')
    .option('-a, --all', 'every image no container uses, tagged or not')
    .option('-f, --force', 'do not ask')
    .addHelpText('after', '\nExample:\n  berth system prune -a -f')
    .action(async (flags: { all?: boolean; force?: boolean }) => {
      const images = flags.all ? 'all images without at least one container associated to them' : 'all dangling images';
      if (!(await confirmed(`This will remove:\n  - all stopped containers\n  - ${images}`, flags.force))) return;
      const c = await ctx.client();
      const containers = await pruneContainers(c);
      report('Containers', containers.removed);
      report('Images', await pruneImages(c, Boolean(flags.all)));
      out(`Total reclaimed space: ${formatSize(containers.bytes)}\n`);
    });
}
