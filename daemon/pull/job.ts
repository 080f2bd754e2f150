import { promises as fs } from 'node:fs';
import { BerthError, isCode, notFound } from '../../core/errors.ts';
import { childGcLabels, isIndex, isManifest, maxJsonBlob, type OciDescriptor, refKey } from '../../core/oci/descriptor.ts';
import { type Platform, platformMatches } from '../../core/platform.ts';
import type { RegistryClient, Resolved } from '../../core/registry/client.ts';
import { type Reference, sourceLabel } from '../../core/registry/reference.ts';
import type { ContentStore, Writer } from '../content/store.ts';
import { BlobFeed } from './feed.ts';
import type { PullEvent, PullStatus } from './pull.ts';
import { checkAborted, type LayerSource, layerSource, parseJson, type Unpacker } from './unpack.ts';

// progress for one blob at most this often while it downloads
const progressEveryMs = 100;

export interface PullJobInit {
  ns: string;
  /** the reference as the caller gave it, for the first progress event */
  input: string;
  ref: Reference;
  client: RegistryClient;
  content: ContentStore;
  /** the lease the blobs are written under */
  lease: string;
  /** the download limit layers count against */
  limit: <T>(fn: () => Promise<T>) => Promise<T>;
  signal: AbortSignal;
  emit: (e: PullEvent) => void;
  platform: Platform;
  allPlatforms: boolean;
  /** where each manifest's layers are unpacked while they download; none: fetch only */
  unpack?: { unpacker: Unpacker; snName: string; abort: () => void };
}

/**
 * The fetch of one pull: resolves the reference, walks the index and manifests for the
 * platform(s), streams each blob into the content store under the lease, labels the blobs as ctr
 * does, and starts unpacking each manifest's layers as they arrive.
 */
export class PullJob {
  /** the unpack of each manifest walked, settling with its top chain ID */
  readonly unpacks: Promise<string>[] = [];
  private resolved!: Resolved;

  constructor(private readonly o: PullJobInit) {}

  /** Resolves the reference and fetches what the image needs; the unpacks may still be running. */
  async run(): Promise<Resolved> {
    const { client, ref, input, signal, emit } = this.o;
    emit({ ref: input, digest: '', mediaType: '', status: 'resolving', offset: 0, total: 0 });
    this.resolved = await client.resolve(ref, signal);
    const root = this.resolved.descriptor;
    emit({ ref: this.resolved.name, digest: root.digest, mediaType: root.mediaType, status: 'resolved', offset: 0, total: root.size });
    await this.walk(root, 0);
    return this.resolved;
  }

  /** Marks where a blob came from (ctr's distribution-source label), merging repositories. */
  private async labelSource(d: OciDescriptor): Promise<void> {
    const { ns, ref, content } = this.o;
    const key = sourceLabel(ref.domain);
    const info = await content.info(ns, d.digest);
    const repos = new Set((info.labels[key] ?? '').split(',').filter(Boolean));
    repos.add(ref.path);
    await content.update(ns, d.digest, { [key]: [...repos].sort().join(',') }, [`labels.${key}`]);
  }

  /**
   * Streams a blob into the content store (resuming an ingest); 'exists' when the namespace
   * has it. Layers count against the download limit; small JSON (which the walk and the
   * unpack wait for) does not.
   */
  private async fetchBlob(d: OciDescriptor, bytes?: Buffer, small = false, early?: LayerSource): Promise<'done' | 'exists'> {
    const { ns, ref, client, content, signal, emit } = this.o;
    const key = refKey(d);
    const event = (status: PullStatus, offset: number) => emit({ ref: key, digest: d.digest, mediaType: d.mediaType, status, offset, total: d.size });
    event('waiting', 0);
    const run = small ? <T>(fn: () => Promise<T>) => fn() : this.o.limit;
    let feed: BlobFeed | undefined;
    const outcome = await run(async () => {
      checkAborted(signal);
      const w = await this.openWriter(key, d);
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
    await this.labelSource(d);
    event(outcome, d.size);
    return outcome;
  }

  /** A small JSON blob (index, manifest, config): fetched and stored, or read from the store. */
  private async fetchJson(d: OciDescriptor): Promise<Buffer> {
    const { ns, ref, client, content, signal } = this.o;
    if (d.size > maxJsonBlob) throw new BerthError('FailedPrecondition', `${refKey(d)} is ${d.size} bytes, over the ${maxJsonBlob} byte limit`);
    const have = await content.info(ns, d.digest).then(
      () => true,
      () => false,
    );
    let bytes: Buffer | undefined;
    if (!have && (isIndex(d.mediaType) || isManifest(d.mediaType))) {
      const resolved = this.resolved;
      bytes = d.digest === resolved.descriptor.digest && resolved.manifest ? resolved.manifest : await client.fetchManifest(ref, d, signal);
    }
    await this.fetchBlob(d, bytes, true);
    return fs.readFile(content.blobPath(d.digest));
  }

  /** An index (its children for the platform), or a manifest (its config and layers, and their unpack). */
  private async walk(d: OciDescriptor, depth: number): Promise<void> {
    const { ns, content, platform, allPlatforms, unpack } = this.o;
    if (depth > 8) throw new BerthError('FailedPrecondition', `image ${this.resolved.descriptor.digest}: indexes nested too deep`);
    const doc = parseJson<{ manifests?: OciDescriptor[]; config?: OciDescriptor; layers?: OciDescriptor[] }>(await this.fetchJson(d), d);
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
        (m) => (isIndex(m.mediaType) || isManifest(m.mediaType)) && (allPlatforms || !m.platform || platformMatches(platform, m.platform)),
      );
      // one platform: the best child only (one naming the platform before one naming none), as images.Manifest
      const chosen = allPlatforms ? candidates : [candidates.find((m) => m.platform) ?? candidates[0]].filter((m) => m !== undefined);
      if (chosen.length === 0)
        throw notFound(
          `${this.resolved.name}: no manifest for platform ${platform.os}/${platform.architecture}${platform.variant ? `/${platform.variant}` : ''}`,
        );
      await Promise.all(chosen.map((m) => this.walk(m, depth + 1)));
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
    unpack?.unpacker.expectApplies(layers.length);
    const early = layers.map(() => layerSource());
    const layerDone = layers.map((l, i) => this.fetchBlob(l, undefined, false, early[i]));
    // the pipeline below reports its own failure; these must not be unhandled meanwhile
    for (const p of layerDone) p.catch(() => undefined);
    const configBytes = await this.fetchJson(doc.config);
    if (unpack) {
      const { lease, signal, emit } = this.o;
      const u = unpack.unpacker.unpackLayers({
        ns,
        snName: unpack.snName,
        config: doc.config,
        configBytes,
        layers,
        ready: layerDone,
        early,
        lease,
        signal,
        abort: unpack.abort,
        emit,
      });
      u.catch(() => undefined); // reported by the pull; its first failure already stopped the downloads
      this.unpacks.push(u);
    }
    await Promise.all(layerDone);
  }

  /**
   * A writer for a blob's ingest, or undefined when the namespace has the blob. Another pull
   * writing the same blob right now is waited for.
   */
  private async openWriter(ref: string, d: OciDescriptor): Promise<Writer | undefined> {
    const { ns, content, lease, signal } = this.o;
    for (;;) {
      try {
        return await content.writer(ns, { ref, total: d.size, expected: d.digest, lease });
      } catch (err) {
        if (isCode(err, 'AlreadyExists')) return undefined;
        if (!isCode(err, 'Unavailable')) throw err;
      }
      checkAborted(signal);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
