import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { BerthError, isCode, notFound } from '../../core/errors.ts';
import type { Mount } from '../../core/mount.ts';
import { limiter } from '../../core/mutex.ts';
import { type OciDescriptor, refKey } from '../../core/oci/descriptor.ts';
import { chainIds } from '../../core/oci/image.ts';
import type { ContentStore } from '../content/store.ts';
import type { WalkingDiffer } from '../diff/differ.ts';
import type { GrowingBlob } from '../diff/unpacker.ts';
import type { SnapshotStore } from '../snapshots/store.ts';
import type { BlobFeed } from './feed.ts';
import type { PullEvent, PullStatus } from './pull.ts';

const uncompressedLabel = 'containerd.io/uncompressed';

/** Settles once: how a layer's bytes can be read early (a feed), or undefined: from the store once fetched. */
export function layerSource() {
  let settle!: (feed: BlobFeed | undefined) => void;
  const ready = new Promise<BlobFeed | undefined>((resolve) => (settle = resolve));
  return { ready, settle };
}
export type LayerSource = ReturnType<typeof layerSource>;

const randomKey = () => `${process.hrtime.bigint() % 1_000_000_000n}-${randomBytes(3).toString('base64url')}`;

/** What unpackLayers needs for one manifest. */
export interface ManifestLayers {
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

/** A JSON object from a blob's bytes; DataLoss naming the blob otherwise. */
export function parseJson<T>(bytes: Buffer, d: OciDescriptor): T {
  try {
    const doc = JSON.parse(bytes.toString('utf8')) as unknown;
    if (typeof doc === 'object' && doc !== null) return doc as T;
  } catch {
    // reported below
  }
  throw new BerthError('DataLoss', `${refKey(d)} is not a JSON object`);
}

export function checkAborted(signal: AbortSignal | undefined) {
  if (signal?.aborted) throw new BerthError('Canceled', 'pull canceled');
}

export interface UnpackDeps {
  content: ContentStore;
  snapshotters: Map<string, SnapshotStore>;
  differ: WalkingDiffer;
  /** layers of one image applied at a time (default defaultConcurrentUnpacks) */
  maxConcurrentUnpacks?: number;
}

/** Applies the layers of a manifest into snapshots: the pull's unpack, and `berth images unpack`. */
export class Unpacker {
  constructor(private readonly deps: UnpackDeps) {}

  private get concurrentUnpacks(): number {
    return this.deps.maxConcurrentUnpacks ?? defaultConcurrentUnpacks;
  }

  snapshotter(name: string): SnapshotStore {
    const sn = this.deps.snapshotters.get(name);
    if (!sn) throw notFound(`snapshotter ${name}`);
    return sn;
  }

  /** The layers of a manifest are about to be applied: the processes for those applied side by side start now. */
  expectApplies(layerCount: number): void {
    this.deps.differ.expectApplies(Math.min(layerCount, this.concurrentUnpacks));
  }

  /**
   * Unpacks the layers of one manifest; returns the top chain ID. Each layer is applied as soon
   * as its bytes start to arrive (or once fetched), side by side with the layers below it where
   * the snapshotter can rebase (overlay), at most `maxConcurrentUnpacks` at a time; snapshots are
   * committed in order. The first failure stops the rest (`job.abort`) and is the one reported,
   * once every layer has settled (so no apply is left running).
   */
  async unpackLayers(job: ManifestLayers): Promise<string> {
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
        let applied: Awaited<ReturnType<typeof apply>>;
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
}
