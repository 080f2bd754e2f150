import type { Command } from 'commander';
import type { Context } from '../../context.ts';
import { out, warn } from '../../output.ts';
import { type RegistryFlags, registryFlags } from '../../registry-flags.ts';

interface PushFlags extends RegistryFlags {
  hostsDir: string;
  platform?: string;
  concurrency: string;
}

/**
 * `berth images push REF [LOCAL]`: pushes a local image to a registry. As with ctr, the registry
 * traffic is the client's: blobs are read from berthd's content service and uploaded from here.
 */
export function register(images: Command, ctx: Context) {
  const push = images
    .command('push')
    .description(
      'push an image to a registry: blobs the registry lacks (mounted from another repository there when the content says where it came from), then manifests and the tag',
    )
    .argument('<ref>', 'where to push: registry/repository[:tag]')
    .argument('[local]', 'the local image name (default: ref)');
  registryFlags(push)
    .option(
      '--hosts-dir <dir>',
      "registry hosts config (<host[:port]>/hosts.toml, as containerd's certs.d): pushes go to the first host with the push capability",
      '/etc/berth/certs.d',
    )
    .option('--platform <platform>', "push only this platform's manifest of an index (os/arch[/variant])")
    .option('--concurrency <n>', 'blobs uploaded at a time', '3')
    .action(async (refArg: string, local: string | undefined, flags: PushFlags) => {
      const [
        { pushImage, selectPlatform },
        { contentServiceSource },
        { RegistryClient },
        { cliCredentials },
        { parseReference, formatReference },
        { parsePlatform },
        fs,
      ] = await Promise.all([
        import('../../../core/registry/push.ts'),
        import('../../images/push-source.ts'),
        import('../../../core/registry/client.ts'),
        import('../../../core/registry/credentials.ts'),
        import('../../../core/registry/reference.ts'),
        import('../../../core/platform.ts'),
        import('node:fs'),
      ]);
      const ref = parseReference(refArg);
      const creds = cliCredentials(ref.domain, flags.user, warn);
      const concurrency = Number(flags.concurrency);
      if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`--concurrency must be a positive integer, not "${flags.concurrency}"`);
      const c = await ctx.client();
      const name = local ?? formatReference(ref);
      const { image } = await c.images.Get({ name });
      if (!image?.target) throw new Error(`no image in the answer for ${name}`);
      const source = contentServiceSource(c);
      let target = { mediaType: image.target.media_type, digest: image.target.digest, size: Number(image.target.size) };
      if (flags.platform) target = await selectPlatform(source, target, parsePlatform(flags.platform));

      const registry = new RegistryClient({
        hosts: {
          ...(flags.plainHttp ? { plainHttp: true } : {}),
          ...(flags.skipVerify ? { skipVerify: true } : {}),
          ...(flags.tlsCa ? { ca: fs.readFileSync(flags.tlsCa) } : {}),
        },
        credentials: creds ? (domain) => (domain === ref.domain ? creds : undefined) : undefined,
        hostsDir: flags.hostsDir || undefined,
      });
      const started = Date.now();
      const view = new StateView(Boolean(process.stdout.isTTY));
      const controller = new AbortController();
      const stop = () => controller.abort();
      process.once('SIGINT', stop);
      try {
        const result = await pushImage(registry, source, ref, target, {
          concurrency,
          signal: controller.signal,
          onProgress: (p) => view.update(p.key, `${p.state}${p.from ? ` from ${p.from}` : ''}`),
        });
        view.finish();
        const count = (what: string) => Object.values(result.blobs).filter((r) => r === what).length;
        const secs = ((Date.now() - started) / 1000).toFixed(1);
        out(
          `pushed ${result.name} ${target.digest}: ${count('uploaded')} blobs uploaded, ${count('exists')} already there, ${count('mounted')} mounted; ${result.manifests.length} manifests, in ${secs}s\n`,
        );
      } catch (err) {
        view.finish();
        throw registryError(err);
      } finally {
        process.off('SIGINT', stop);
        registry.close();
      }
    });
}

/**
 * Registry failures are reported as they are: the CLI's error printer reads a coded
 * "Unavailable ... ECONNREFUSED" as berthd being down, which is true only of gRPC errors.
 */
function registryError(err: unknown): unknown {
  const e = err as { name?: string; message?: string; cause?: { metadata?: unknown } };
  if (e?.name !== 'BerthError' || e.cause?.metadata !== undefined) return err;
  return new Error(e.message, { cause: err });
}

/** One line per blob state change; on a terminal, the block of blobs redrawn in place instead. */
class StateView {
  private readonly states = new Map<string, string>();
  private drawn = 0;
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(private readonly tty: boolean) {
    if (tty) this.timer = setInterval(() => this.draw(), 100);
  }

  update(key: string, state: string) {
    this.states.set(key, state);
    if (!this.tty) out(`${key} ${state}\n`);
  }

  private draw() {
    const width = Math.max(0, ...[...this.states.keys()].map((k) => k.length)) + 1;
    const rows = [...this.states].map(([k, v]) => `${k.padEnd(width)}${v}`);
    out(`${this.drawn > 0 ? `\x1b[${this.drawn}A` : ''}${rows.map((r) => `\r\x1b[2K${r}\n`).join('')}`);
    this.drawn = rows.length;
  }

  finish() {
    if (!this.timer) return;
    clearInterval(this.timer);
    this.draw();
  }
}
