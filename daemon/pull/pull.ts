import { promises as fs } from 'node:fs';
import { BerthError, isCode, notFound } from '../../core/errors.ts';
import { limiter } from '../../core/mutex.ts';
import type { OciDescriptor } from '../../core/oci/descriptor.ts';
import { resolveManifest } from '../../core/oci/image.ts';
import { hostPlatform, type Platform } from '../../core/platform.ts';
import { type CredentialsFor, userPass } from '../../core/registry/auth.ts';
import { RegistryClient } from '../../core/registry/client.ts';
import { parseReference } from '../../core/registry/reference.ts';
import type { ContentStore } from '../content/store.ts';
import type { WalkingDiffer } from '../diff/differ.ts';
import type { ImageStore } from '../images/store.ts';
import { expireLabel, type LeaseStore } from '../leases/store.ts';
import type { SnapshotStore } from '../snapshots/store.ts';
import { PullJob } from './job.ts';
import { Unpacker } from './unpack.ts';

/**
 * Server-side pull, as containerd's client does it (reference/containerd-api.md §4.1), in the
 * daemon: under an expiring lease, resolve the reference, fetch the index / manifest / config and
 * layers (at most N blob downloads at a time, each streamed into a content ingest and resumed
 * from the ingest's offset with a Range request), label the blobs as ctr does, name the image,
 * and unpack the layers into snapshots while the rest downloads: layer i is applied as soon as
 * layer i-1 is, reading layer i's bytes as they arrive when it is still downloading, and its
 * snapshot is committed only once the blob is verified (else it is removed).
 */
export type PullStatus = 'resolving' | 'resolved' | 'waiting' | 'downloading' | 'done' | 'exists' | 'unpacking' | 'unpacked';

export interface PullEvent {
  /** ctr's ref key: `layer-sha256:…`, `manifest-sha256:…`, or the image name while resolving */
  ref: string;
  digest: string;
  mediaType: string;
  status: PullStatus;
  offset: number;
  total: number;
}

export interface PullOptions {
  platform?: Platform;
  allPlatforms?: boolean;
  /** default true */
  unpack?: boolean;
  /** default overlayfs */
  snapshotter?: string;
  /** blob downloads at a time, default 3 */
  maxConcurrent?: number;
  plainHttp?: boolean;
  skipVerify?: boolean;
  /** PEM of CAs to trust */
  ca?: string;
  /** `user:password` */
  auth?: string;
  credentials?: CredentialsFor;
  /** the registry hosts directory for this pull instead of the puller's ("": none) */
  hostsDir?: string;
  signal?: AbortSignal;
  progress?: (e: PullEvent) => void;
}

export interface PullResult {
  name: string;
  target: OciDescriptor;
  /** the top chain ID of each unpacked platform */
  unpacked: string[];
}

export interface PullDeps {
  content: ContentStore;
  images: ImageStore;
  leases: LeaseStore;
  snapshotters: Map<string, SnapshotStore>;
  differ: WalkingDiffer;
  /** containerd-style registry hosts directory (`<host[:port]>/hosts.toml`), read at each pull */
  hostsDir?: string;
  /** layers of one image applied at a time (default defaultConcurrentUnpacks) */
  maxConcurrentUnpacks?: number;
}

const leaseLifetimeMs = 24 * 3600 * 1000;

export class Puller {
  private readonly unpacker: Unpacker;

  constructor(private readonly deps: PullDeps) {
    this.unpacker = new Unpacker(deps);
  }

  async pull(ns: string, input: string, opts: PullOptions = {}): Promise<PullResult> {
    const { content, images, leases } = this.deps;
    const ref = parseReference(input);
    const unpack = opts.unpack ?? true;
    const snName = opts.snapshotter || 'overlayfs';
    if (unpack) this.unpacker.snapshotter(snName);
    // an unpack failure stops the downloads too
    const inner = new AbortController();
    const abort = () => inner.abort();
    opts.signal?.addEventListener('abort', abort, { once: true });
    const client = new RegistryClient({
      hosts: { plainHttp: opts.plainHttp, skipVerify: opts.skipVerify, ca: opts.ca || undefined },
      credentials: opts.credentials ?? (opts.auth ? userPass(opts.auth) : undefined),
      hostsDir: (opts.hostsDir ?? this.deps.hostsDir) || undefined,
    });
    const lease = (await leases.create(ns, '', { [expireLabel]: new Date(Date.now() + leaseLifetimeMs).toISOString() })).id;
    const job = new PullJob({
      ns,
      input,
      ref,
      client,
      content,
      lease,
      limit: limiter(Math.max(1, opts.maxConcurrent ?? 3)),
      signal: inner.signal,
      emit: opts.progress ?? (() => undefined),
      platform: opts.platform ?? hostPlatform,
      allPlatforms: Boolean(opts.allPlatforms),
      ...(unpack ? { unpack: { unpacker: this.unpacker, snName, abort } } : {}),
    });
    try {
      const resolved = await job.run();
      const root = resolved.descriptor;
      const target = { mediaType: root.mediaType, digest: root.digest, size: root.size, annotations: {} };
      try {
        await images.create(ns, { name: resolved.name, labels: {}, target });
      } catch (err) {
        if (!isCode(err, 'AlreadyExists')) throw err;
        const current = await images.get(ns, resolved.name);
        await images.update(ns, { name: resolved.name, labels: current.labels, target });
      }
      const unpacked = await Promise.all(job.unpacks);
      return { name: resolved.name, target: { mediaType: root.mediaType, digest: root.digest, size: root.size }, unpacked };
    } catch (err) {
      // the first failure is the one to report; unpacks still running are waited for
      inner.abort();
      const settled = await Promise.allSettled(job.unpacks);
      if (opts.signal?.aborted) throw new BerthError('Canceled', `pull of ${input} canceled`);
      // an unpack failure cancels the downloads: report it, not their cancellation
      const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected' && !isCode(s.reason, 'Canceled'));
      throw isCode(err, 'Canceled') && failed ? failed.reason : err;
    } finally {
      opts.signal?.removeEventListener('abort', abort);
      client.close();
      await leases.delete(ns, lease).catch(() => undefined);
    }
  }

  /**
   * Unpacks an image whose blobs are here (`berth images unpack`): the layers of its manifest for
   * the platform, under a lease of its own. Returns the top chain ID.
   */
  async unpack(
    ns: string,
    name: string,
    opts: { snapshotter?: string; platform?: Platform; progress?: (e: PullEvent) => void; signal?: AbortSignal } = {},
  ): Promise<string> {
    const { content, leases } = this.deps;
    const snName = opts.snapshotter || 'overlayfs';
    this.unpacker.snapshotter(snName);
    const image = await this.deps.images.get(ns, name);
    const read = async (d: OciDescriptor) => {
      try {
        const { path } = await content.reader(ns, d.digest);
        return await fs.readFile(path);
      } catch (err) {
        if (isCode(err, 'NotFound')) return undefined;
        throw err;
      }
    };
    const m = await resolveManifest(read, image.target, opts.platform ?? hostPlatform);
    const configBytes = await read(m.config);
    if (!configBytes) throw notFound(`content digest ${m.config.digest}`);
    for (const l of m.layers) await content.info(ns, l.digest);
    const lease = (await leases.create(ns, '', { [expireLabel]: new Date(Date.now() + leaseLifetimeMs).toISOString() })).id;
    const stop = new AbortController();
    const abort = () => stop.abort();
    opts.signal?.addEventListener('abort', abort, { once: true });
    try {
      this.unpacker.expectApplies(m.layers.length);
      const ready = m.layers.map(() => Promise.resolve());
      return await this.unpacker.unpackLayers({
        ns,
        snName,
        config: m.config,
        configBytes,
        layers: m.layers,
        ready,
        lease,
        signal: stop.signal,
        abort,
        emit: opts.progress ?? (() => undefined),
      });
    } finally {
      opts.signal?.removeEventListener('abort', abort);
      await leases.delete(ns, lease).catch(() => undefined);
    }
  }
}
