import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { availableParallelism } from 'node:os';
import { BerthError, isCode, notFound } from '../../core/errors.ts';
import type { Mount } from '../../core/mount.ts';
import { limiter } from '../../core/mutex.ts';
import { childGcLabels, isIndex, isManifest, maxJsonBlob, type OciDescriptor, refKey } from '../../core/oci/descriptor.ts';
import { chainIds, resolveManifest } from '../../core/oci/image.ts';
import { hostPlatform, type Platform, platformMatches } from '../../core/platform.ts';
import { type CredentialsFor, userPass } from '../../core/registry/auth.ts';
import { RegistryClient } from '../../core/registry/client.ts';
import { parseReference, type Reference, sourceLabel } from '../../core/registry/reference.ts';
import type { ContentStore, Writer } from '../content/store.ts';
import type { WalkingDiffer } from '../diff/differ.ts';
import type { GrowingBlob } from '../diff/unpacker.ts';
import type { ImageStore } from '../images/store.ts';
import { expireLabel, type LeaseStore } from '../leases/store.ts';
import type { SnapshotStore } from '../snapshots/store.ts';
import { BlobFeed } from './feed.ts';

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

const uncompressedLabel = 'containerd.io/uncompressed';
const leaseLifetimeMs = 24 * 3600 * 1000;
// progress for one blob at most this often while it downloads
const progressEveryMs = 100;

/** Settles once: how a layer's bytes can be read early (a feed), or undefined: from the store once fetched. */
function layerSource() {
  let settle!: (feed: BlobFeed | undefined) => void;
  const ready = new Promise<BlobFeed | undefined>((resolve) => (settle = resolve));
  return { ready, settle };
}
type LayerSource = ReturnType<typeof layerSource>;

const randomKey = () => `${process.hrtime.bigint() % 1_000_000_000n}-${randomBytes(3).toString('base64url')}`;

/** What unpackLayers needs for one manifest. */
interface ManifestLayers {
  ns: string;
  snName: string;
  config: OciDescriptor;
  configBytes: Buffer;
  layers: OciDescriptor[];
  /** settle when each layer's blob is fetched */
  ready: Promise<unknown>[];
  /** where layers still downloading can be read early; none: each is read once fetched */
  early?: LayerSource[];
  lease: string;
  signal: AbortSignal;
  /** stops the whole pull (or unpack): downloads and the other layers */
  abort: () => void;
  emit: (e: PullEvent) => void;
}

/**
 * Layers applied side by side by default. An apply keeps about 1.3 cores busy (its process, and
 * gunzip on a thread beside it) and the downloads some more: on two cores, two applies at a time
 * cost a third more CPU than one and end later (bench/README.md), so it is one per two cores.
 */
export const defaultConcurrentUnpacks = Math.max(1, Math.min(4, Math.floor(availableParallelism() / 2)));

function parseJson<T>(bytes: Buffer, d: OciDescriptor): T {
  try {
    const doc = JSON.parse(bytes.toString('utf8')) as unknown;
    if (typeof doc === 'object' && doc !== null) return doc as T;
  } catch {
    // reported below
  }
  throw new BerthError('DataLoss', `${refKey(d)} is not a JSON object`);
}

function checkAborted(signal: AbortSignal | undefined) {
  if (signal?.aborted) throw new BerthError('Canceled', 'pull canceled');
}

export class Puller {
  constructor(private readonly deps: PullDeps) {}

  private get concurrentUnpacks(): number {
    return this.deps.maxConcurrentUnpacks ?? defaultConcurrentUnpacks;
  }

  private snapshotter(name: string): SnapshotStore {
    const sn = this.deps.snapshotters.get(name);
    if (!sn) throw notFound(`snapshotter ${name}`);
    return sn;
  }

  async pull(ns: string, input: string, opts: PullOptions = {}): Promise<PullResult> {
    const { content, images, leases } = this.deps;
    const ref: Reference = parseReference(input);
    const unpack = opts.unpack ?? true;
    const snName = opts.snapshotter || 'overlayfs';
    if (unpack) this.snapshotter(snName);
    const platform = opts.platform ?? hostPlatform;
    const emit = opts.progress ?? (() => undefined);
    // an unpack failure stops the downloads too
    const inner = new AbortController();
    const abort = () => inner.abort();
    opts.signal?.addEventListener('abort', abort, { once: true });
    const signal = inner.signal;
    const client = new RegistryClient({
      hosts: { plainHttp: opts.plainHttp, skipVerify: opts.skipVerify, ca: opts.ca || undefined },
      credentials: opts.credentials ?? (opts.auth ? userPass(opts.auth) : undefined),
      hostsDir: this.deps.hostsDir,
    });
    const lease = (await leases.create(ns, '', { [expireLabel]: new Date(Date.now() + leaseLifetimeMs).toISOString() })).id;
    const limit = limiter(Math.max(1, opts.maxConcurrent ?? 3));
    const unpacks: Promise<string>[] = [];
    try {
      emit({ ref: input, digest: '', mediaType: '', status: 'resolving', offset: 0, total: 0 });
      const resolved = await client.resolve(ref, signal);
      const root = resolved.descriptor;
      emit({ ref: resolved.name, digest: root.digest, mediaType: root.mediaType, status: 'resolved', offset: 0, total: root.size });

      /** Marks where a blob came from (ctr's distribution-source label), merging repositories. */
      const labelSource = async (d: OciDescriptor) => {
        const key = sourceLabel(ref.domain);
        const info = await content.info(ns, d.digest);
        const repos = new Set((info.labels[key] ?? '').split(',').filter(Boolean));
        repos.add(ref.path);
        await content.update(ns, d.digest, { [key]: [...repos].sort().join(',') }, [`labels.${key}`]);
      };

      /**
       * Streams a blob into the content store (resuming an ingest); 'exists' when the namespace
       * has it. Layers count against the download limit; small JSON (which the walk and the
       * unpack wait for) does not.
       */
      const fetchBlob = async (d: OciDescriptor, bytes?: Buffer, small = false, early?: LayerSource): Promise<'done' | 'exists'> => {
        const key = refKey(d);
        const event = (status: PullStatus, offset: number) => emit({ ref: key, digest: d.digest, mediaType: d.mediaType, status, offset, total: d.size });
        event('waiting', 0);
        const run = small ? <T>(fn: () => Promise<T>) => fn() : limit;
        let feed: BlobFeed | undefined;
        const outcome = await run(async () => {
          checkAborted(signal);
          const w = await this.openWriter(ns, key, d, lease, signal);
          if (!w) return 'exists' as const;
          try {
            let offset = w.status().offset;
            if (offset > d.size) {
              await w.truncate();
              offset = 0;
            }
            if (early) {
              feed = new BlobFeed(w.bytesPath(), offset);
              early.settle(feed);
            }
            if (offset < d.size) {
              event('downloading', offset);
              if (bytes) {
                await w.write(bytes.subarray(offset));
              } else {
                const blob = await client.fetchBlob(ref, d, { offset, signal });
                let last = Date.now();
                for await (const chunk of blob.body) {
                  await w.write(chunk as Buffer);
                  feed?.wrote(w.offset);
                  if (Date.now() - last >= progressEveryMs) {
                    last = Date.now();
                    event('downloading', w.offset);
                  }
                }
              }
            }
            try {
              await w.commit(d.size, d.digest, {});
            } catch (err) {
              if (isCode(err, 'AlreadyExists')) return 'exists' as const;
              // bytes that are not the blob: start over next time rather than resume garbage
              await content.abort(ns, key).catch(() => undefined);
              throw new BerthError('DataLoss', `${key}: ${(err as Error).message}`);
            }
            feed?.complete();
            return 'done' as const;
          } finally {
            await w.close();
          }
        })
          .catch((err: Error) => {
            feed?.fail(err);
            throw err;
          })
          .finally(() => {
            // a feed that did not complete (e.g. another writer committed the blob first) is not read
            feed?.fail(new BerthError('Aborted', `${key} was not written by this pull`));
            early?.settle(undefined);
          });
        await labelSource(d);
        event(outcome, d.size);
        return outcome;
      };

      /** A small JSON blob (index, manifest, config): fetched and stored, or read from the store. */
      const fetchJson = async (d: OciDescriptor): Promise<Buffer> => {
        if (d.size > maxJsonBlob) throw new BerthError('FailedPrecondition', `${refKey(d)} is ${d.size} bytes, over the ${maxJsonBlob} byte limit`);
        const have = await content.info(ns, d.digest).then(
          () => true,
          () => false,
        );
        let bytes: Buffer | undefined;
        if (!have && (isIndex(d.mediaType) || isManifest(d.mediaType))) {
          bytes = d.digest === root.digest && resolved.manifest ? resolved.manifest : await client.fetchManifest(ref, d, signal);
        }
        await fetchBlob(d, bytes, true);
        return fs.readFile(content.blobPath(d.digest));
      };

      const handle = async (d: OciDescriptor, depth: number): Promise<void> => {
        if (depth > 8) throw new BerthError('FailedPrecondition', `image ${root.digest}: indexes nested too deep`);
        const doc = parseJson<{ manifests?: OciDescriptor[]; config?: OciDescriptor; layers?: OciDescriptor[] }>(await fetchJson(d), d);
        if (isIndex(d.mediaType)) {
          const all = doc.manifests ?? [];
          const labels = childGcLabels(all);
          await content.update(
            ns,
            d.digest,
            labels,
            Object.keys(labels).map((k) => `labels.${k}`),
          );
          const candidates = all.filter(
            (m) => (isIndex(m.mediaType) || isManifest(m.mediaType)) && (opts.allPlatforms || !m.platform || platformMatches(platform, m.platform)),
          );
          // one platform: the best child only (one naming the platform before one naming none), as images.Manifest
          const chosen = opts.allPlatforms ? candidates : [candidates.find((m) => m.platform) ?? candidates[0]].filter((m) => m !== undefined);
          if (chosen.length === 0)
            throw notFound(
              `${resolved.name}: no manifest for platform ${platform.os}/${platform.architecture}${platform.variant ? `/${platform.variant}` : ''}`,
            );
          await Promise.all(chosen.map((m) => handle(m, depth + 1)));
          return;
        }
        if (!isManifest(d.mediaType)) return;
        if (!doc.config) throw new BerthError('FailedPrecondition', `manifest ${d.digest} has no config`);
        const layers = doc.layers ?? [];
        const labels = childGcLabels([doc.config, ...layers]);
        await content.update(
          ns,
          d.digest,
          labels,
          Object.keys(labels).map((k) => `labels.${k}`),
        );
        if (unpack) this.deps.differ.expectApplies(Math.min(layers.length, this.concurrentUnpacks));
        const early = layers.map(() => layerSource());
        const layerDone = layers.map((l, i) => fetchBlob(l, undefined, false, early[i]));
        // the pipeline below reports its own failure; these must not be unhandled meanwhile
        for (const p of layerDone) p.catch(() => undefined);
        const configBytes = await fetchJson(doc.config);
        if (unpack) {
          const u = this.unpackLayers({ ns, snName, config: doc.config, configBytes, layers, ready: layerDone, early, lease, signal, abort, emit });
          u.catch(() => undefined); // reported below; its first failure already stopped the downloads
          unpacks.push(u);
        }
        await Promise.all(layerDone);
      };

      await handle(root, 0);
      const target = { mediaType: root.mediaType, digest: root.digest, size: root.size, annotations: {} };
      try {
        await images.create(ns, { name: resolved.name, labels: {}, target });
      } catch (err) {
        if (!isCode(err, 'AlreadyExists')) throw err;
        const current = await images.get(ns, resolved.name);
        await images.update(ns, { name: resolved.name, labels: current.labels, target });
      }
      const unpacked = await Promise.all(unpacks);
      return { name: resolved.name, target: { mediaType: root.mediaType, digest: root.digest, size: root.size }, unpacked };
    } catch (err) {
      // the first failure is the one to report; unpacks still running are waited for
      inner.abort();
      const settled = await Promise.allSettled(unpacks);
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
   * A writer for a blob's ingest, or undefined when the namespace has the blob. Another pull
   * writing the same blob right now is waited for.
   */
  private async openWriter(ns: string, ref: string, d: OciDescriptor, lease: string, signal: AbortSignal): Promise<Writer | undefined> {
    for (;;) {
      try {
        return await this.deps.content.writer(ns, { ref, total: d.size, expected: d.digest, lease });
      } catch (err) {
        if (isCode(err, 'AlreadyExists')) return undefined;
        if (!isCode(err, 'Unavailable')) throw err;
      }
      checkAborted(signal);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * Unpacks the layers of one manifest; returns the top chain ID. Each layer is applied as soon
   * as its bytes start to arrive (or once fetched), side by side with the layers below it where
   * the snapshotter can rebase (overlay), at most `maxConcurrentUnpacks` at a time; snapshots are
   * committed in order. The first failure stops the rest (`job.abort`) and is the one reported,
   * once every layer has settled (so no apply is left running).
   */
  private async unpackLayers(job: ManifestLayers): Promise<string> {
    const { ns, snName, config, configBytes, layers, ready, early, signal } = job;
    const diffs = parseJson<{ rootfs?: { diff_ids?: string[] } }>(configBytes, config).rootfs?.diff_ids ?? [];
    if (diffs.length !== layers.length)
      throw new BerthError('FailedPrecondition', `config ${config.digest} lists ${diffs.length} diff IDs for ${layers.length} layers`);
    const chains = chainIds(diffs);
    // slots are taken in layer order, so a layer waiting for the one below never holds that one's slot
    const slots = limiter(this.concurrentUnpacks);
    let failure: { err: unknown } | undefined;
    let below: Promise<void> = Promise.resolve();
    const stages = layers.map((layer, i) => {
      const parentDone = below;
      const stage = slots(async () => {
        // the download has started (bytes can be followed) or is over
        const fetched = ready[i]!.then(() => undefined);
        const feed = await (early ? Promise.race([early[i]!.ready, fetched]) : fetched);
        try {
          checkAborted(signal);
          await this.unpackLayer(job, layer, diffs[i]!, chains[i]!, chains[i - 1] ?? '', parentDone, { feed, fetched: ready[i]! });
        } finally {
          feed?.release();
        }
      }).catch((err: unknown) => {
        if (!failure) {
          failure = { err };
          job.abort();
        }
        throw err;
      });
      stage.catch(() => undefined);
      below = stage;
      return stage;
    });
    await Promise.allSettled(stages);
    if (failure) throw failure.err;
    const top = chains.at(-1) ?? '';
    if (top) {
      const key = `containerd.io/gc.ref.snapshot.${snName}`;
      await this.deps.content.update(ns, config.digest, { [key]: top }, [`labels.${key}`]);
    }
    return top;
  }

  /**
   * One layer onto its parent chain: Stat → skip; else Prepare, Apply, check the diff ID, Commit.
   * When the parent is not committed yet (`below` is still applying it) and the snapshotter can
   * rebase, the layer is applied into a snapshot prepared without a parent, which is put on the
   * parent once `below` is done; the directories the layer lacks take the parent's attributes
   * then, and the commit follows.
   */
  private async unpackLayer(
    job: ManifestLayers,
    layer: OciDescriptor,
    diffID: string,
    chain: string,
    parent: string,
    below: Promise<void>,
    download: { feed: BlobFeed | undefined; fetched: Promise<unknown> },
  ): Promise<void> {
    const { ns, lease, signal, emit } = job;
    const sn = this.snapshotter(job.snName);
    const event = (status: PullStatus) =>
      emit({ ref: refKey(layer), digest: layer.digest, mediaType: layer.mediaType, status, offset: layer.size, total: layer.size });
    const has = (name: string) =>
      sn.stat(ns, name).then(
        () => true,
        () => false,
      );
    if (!(await has(chain))) {
      // while the layer still downloads, 'unpacking' is told once the download is done
      const fetched = download.fetched;
      void fetched.then(
        () => event('unpacking'),
        () => undefined,
      );
      const parentReady = parent === '' || (await has(parent));
      const staged = !parentReady && sn.canRebase;
      if (!parentReady && !staged) await below;
      const key = `extract-${randomKey()} ${chain}`;
      const mounts = await sn.prepare(ns, key, staged ? '' : parent, {}, lease);
      try {
        const desc = { media_type: layer.mediaType, digest: layer.digest };
        let rebased: Promise<Mount[]> | undefined;
        let apply = (source?: GrowingBlob) => this.deps.differ.apply(ns, desc, mounts, source);
        if (staged) {
          const upper = mounts[0]?.type === 'bind' ? mounts[0].source : undefined;
          if (upper === undefined) throw new BerthError('Internal', `snapshot ${key} without a parent does not mount as its own directory`);
          const onParent = below.then(() => sn.rebase(ns, key, parent));
          onParent.catch(() => undefined);
          rebased = onParent;
          apply = (source?: GrowingBlob) => this.deps.differ.applyToUpper(ns, desc, upper, onParent, source);
        }
        let applied;
        try {
          applied = await apply(download.feed);
        } catch (err) {
          // a failed download is the error to report; a feed cut short by another writer
          // that committed the blob first is applied again from the store
          await fetched;
          if (!download.feed?.failed) throw err;
          applied = await apply();
        }
        // only bytes whose digest was verified are kept
        await fetched;
        if (applied.digest !== diffID) {
          throw new BerthError('DataLoss', `layer ${layer.digest} unpacks to ${applied.digest}, but the image config says its diff ID is ${diffID}`);
        }
        await rebased; // the layer needed no parent directories: it is put on its parent now
        checkAborted(signal);
        try {
          await sn.commit(ns, chain, key, {}, lease);
        } catch (err) {
          if (!isCode(err, 'AlreadyExists')) throw err;
          await sn.remove(ns, key);
        }
      } catch (err) {
        await sn.remove(ns, key).catch(() => undefined);
        throw err;
      }
    }
    await this.deps.content.update(ns, layer.digest, { [uncompressedLabel]: diffID }, [`labels.${uncompressedLabel}`]);
    event('unpacked');
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
    this.snapshotter(snName);
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
      this.deps.differ.expectApplies(Math.min(m.layers.length, this.concurrentUnpacks));
      const ready = m.layers.map(() => Promise.resolve());
      return await this.unpackLayers({
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
