import type { Command } from 'commander';
import type { PullProgress__Output } from '../../../api/gen/berth/services/pull/v1/PullProgress.ts';
import type { BerthClient } from '../../../transport/client.ts';
import type { StreamOptions } from '../../../transport/typed.ts';
import type { Context } from '../../context.ts';
import { ProgressView } from '../../images/progress.ts';
import { warn } from '../../output.ts';
import { type RegistryFlags, registryFlags } from '../../registry-flags.ts';

interface PullFlags extends RegistryFlags {
  platform?: string;
  allPlatforms?: boolean;
  snapshotter: string;
  unpack: boolean;
  maxConcurrent: string;
}

/**
 * `berth images pull REF` and `berth images unpack NAME`: the daemon does the work (the
 * berth.services.pull.v1.Pull extension) and streams progress, shown here as ctr shows it: a
 * block of one line per blob redrawn in place on a terminal, one line per state change otherwise,
 * and a final `elapsed: … total: … (…/s)` line.
 */
export function register(images: Command, ctx: Context) {
  const pull = images
    .command('pull')
    .alias('fetch')
    .description('pull an image from a registry into berthd and unpack it (the daemon fetches; progress is shown here)')
    .argument('<ref>', 'image reference: [registry/]repository[:tag][@digest]; short names are docker.io ones')
    .option('--platform <platform>', "pull this platform (os/arch[/variant]) instead of the daemon's")
    .option('--all-platforms', 'pull every platform of an index');
  registryFlags(pull)
    .option('--snapshotter <name>', 'snapshotter to unpack into', 'overlayfs')
    .option('--no-unpack', 'fetch only; do not unpack into snapshots')
    .option('--max-concurrent <n>', 'blob downloads at a time', '3')
    .action((ref: string, flags: PullFlags) => pullImage(ctx, ref, flags));
  registerUnpack(images, ctx);
}

/**
 * Pulls an image through berthd with the progress display (`images pull`, and `run` for an image
 * it lacks): the result line and summary at the end.
 */
export async function pullImage(ctx: Context, ref: string, flags: Partial<PullFlags> & { snapshotter: string }, toStderr = false): Promise<void> {
  const max = Number(flags.maxConcurrent ?? '3');
  if (!Number.isInteger(max) || max < 1) throw new Error(`--max-concurrent must be a positive integer, not "${flags.maxConcurrent}"`);
  const [{ cliCredentials }, { parseReference }] = await Promise.all([
    import('../../../core/registry/credentials.ts'),
    import('../../../core/registry/reference.ts'),
  ]);
  let domain: string | undefined;
  try {
    domain = parseReference(ref).domain;
  } catch {
    // berthd reports the bad reference
  }
  // berthd has no Docker config of the user's: the CLI looks the login up and sends it
  const creds = domain === undefined && flags.user === undefined ? undefined : cliCredentials(domain ?? '', flags.user, warn);
  const username = creds?.username ?? '';
  const password = creds?.password ?? '';
  const ca_pem = flags.tlsCa ? (await import('node:fs')).readFileSync(flags.tlsCa, 'utf8') : '';
  const request = {
    ref,
    platform: flags.platform ?? '',
    all_platforms: Boolean(flags.allPlatforms),
    skip_unpack: flags.unpack === false,
    snapshotter: flags.snapshotter,
    plain_http: Boolean(flags.plainHttp),
    skip_verify: Boolean(flags.skipVerify),
    ca_pem,
    username,
    password,
    max_concurrent_downloads: max,
  };
  await run(
    ctx,
    'Pull',
    (c, o) => c.pull.Pull(request, o),
    (last) => `${last.image}: ${last.target?.digest ?? ''}${last.chain_id ? ` unpacked ${last.chain_id}` : ''}`,
    toStderr,
  );
}

function registerUnpack(images: Command, ctx: Context) {
  images
    .command('unpack')
    .description('unpack an image whose blobs are present into snapshots (one per layer, named by chain ID)')
    .argument('<name>', 'image name')
    .option('--platform <platform>', "unpack this platform (os/arch[/variant]) instead of the daemon's")
    .option('--snapshotter <name>', 'snapshotter to unpack into', 'overlayfs')
    .action(async (name: string, flags: { platform?: string; snapshotter: string }) => {
      const request = { name, platform: flags.platform ?? '', snapshotter: flags.snapshotter };
      await run(
        ctx,
        'Unpack',
        (c, o) => c.pull.Unpack(request, o),
        (last) => `${last.image}: unpacked ${last.chain_id}`,
      );
    });
}

/** Unpacks an image whose blobs are present, without drawing progress (`images import`). */
export async function unpackImage(ctx: Context, name: string, opts: { platform?: string; snapshotter: string }): Promise<void> {
  const request = { name, platform: opts.platform ?? '', snapshotter: opts.snapshotter };
  await run(ctx, 'Unpack', (c, o) => c.pull.Unpack(request, o), undefined);
}

/**
 * Calls the pull service, draws the progress, and ends with the result line and the summary
 * (nothing is drawn without a result line).
 */
async function run(
  ctx: Context,
  method: 'Pull' | 'Unpack',
  stream: (c: BerthClient, o: StreamOptions) => AsyncGenerator<PullProgress__Output>,
  result: ((last: PullProgress__Output) => string) | undefined,
  toStderr = false,
): Promise<void> {
  const c = await ctx.client();
  const drawOn = toStderr ? process.stderr : process.stdout;
  const view = result
    ? new ProgressView(
        Boolean(drawOn.isTTY),
        () => drawOn.columns || 80,
        Date.now,
        (t) => drawOn.write(t),
      )
    : undefined;
  let last: PullProgress__Output | undefined;
  let cancelled = false;
  let call: { cancel(): void } | undefined;
  const onSignal = () => {
    cancelled = true;
    call?.cancel();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let connected = false;
  try {
    // no deadline: a pull takes as long as the registry takes; ^C cancels it in the daemon
    for await (const e of stream(c, { deadline: false, onCall: (x) => (call = x) })) {
      connected = true;
      if (e.image) last = e;
      else view?.update(e);
    }
  } catch (err) {
    view?.finish(false);
    if (cancelled) throw new Error(`${method.toLowerCase()} canceled`);
    // once berthd answered, Unavailable is the registry's ("registry … unreachable"), not berthd's
    if (connected && (err as { code?: string }).code === 'Unavailable') throw new Error((err as Error).message);
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (!last) {
    view?.finish(false);
    throw new Error(`berthd ended the ${method.toLowerCase()} without a result`);
  }
  if (result) view?.finish(true, result(last));
}
