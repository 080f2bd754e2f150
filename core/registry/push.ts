import type { Readable } from 'node:stream';
import { BerthError } from '../errors.ts';
import { limiter } from '../mutex.ts';
import { isConfig, isIndex, isManifest, type OciDescriptor, refKey } from '../oci/descriptor.ts';
import { children } from '../oci/image.ts';
import { formatPlatform, type Platform, platformMatches } from '../platform.ts';
import type { PushBlobResult, RegistryClient } from './client.ts';
import { formatReference, type Reference, sourceLabel } from './reference.ts';

/**
 * Pushing an image: walk the local tree (index → manifests → config and layers), check every
 * blob is here, upload blobs children-first (at most `concurrency` at once), skipping those the
 * registry has and mounting from another repository of the same registry when the content's
 * `containerd.io/distribution.source.<host>` label names one; then each manifest once its
 * children are up, and the root under the reference's tag.
 *
 * Where the bytes come from is a PushSource: the CLI reads them over the content service (as
 * ctr does), the daemon could give one over its ContentStore.
 */
export interface PushSource {
  /** a small blob's bytes (index, manifest), or undefined when the store lacks it */
  read(desc: OciDescriptor): Promise<Buffer | undefined>;
  /** the blob's labels, or undefined when the store lacks it */
  labels(desc: OciDescriptor): Promise<Record<string, string> | undefined>;
  /** bytes [start, end) of a blob, for an upload (called again if a request is retried) */
  open(desc: OciDescriptor, start: number, end: number): Readable | Buffer;
}

export type PushState = 'waiting' | 'pushing' | 'exists' | 'mounted' | 'done';

export interface PushProgress {
  /** containerd's ref key: `layer-sha256:…`, `config-…`, `manifest-…`, `index-…` */
  key: string;
  desc: OciDescriptor;
  state: PushState;
  /** for `mounted`: the repository it came from */
  from?: string;
}

export interface PushOptions {
  /** parallel blob uploads (default 3) */
  concurrency?: number;
  /** upload in PATCH chunks of this size (default: one PUT) */
  chunkSize?: number;
  signal?: AbortSignal;
  onProgress?: (p: PushProgress) => void;
}

export interface PushResult {
  name: string;
  target: OciDescriptor;
  /** what happened to each blob (config, layer), by digest */
  blobs: Record<string, PushBlobResult>;
  /** the manifests and indexes put, children first, the root last */
  manifests: string[];
}

/** What a descriptor is, in the words of containerd's ref keys, for messages. */
function refKind(d: OciDescriptor): string {
  return isIndex(d.mediaType)
    ? 'index'
    : isManifest(d.mediaType)
      ? 'manifest'
      : isConfig(d.mediaType)
        ? 'config'
        : /\.layer\.|\.rootfs\./.test(d.mediaType)
          ? 'layer'
          : 'unknown';
}

const describe = (d: OciDescriptor) => `${refKind(d)} ${d.digest} (${d.mediaType}, ${d.size} bytes)`;

/**
 * containerd's selectRepositoryMountCandidate: among the repositories the label names on this
 * registry, the one sharing the most leading path components with the target (never the target).
 */
export function mountCandidate(ref: Reference, labels: Record<string, string>): string | undefined {
  const repos = labels[sourceLabel(ref.domain)];
  if (!repos) return undefined;
  const target = ref.path.split('/');
  let best: string | undefined;
  let n = 0;
  for (const repo of repos.split(',')) {
    if (!repo || repo === ref.path) continue;
    const parts = repo.split('/');
    let i = 0;
    while (i < target.length && i < parts.length && target[i] === parts[i]) i++;
    if (i >= n) [n, best] = [i, repo];
  }
  return best;
}

interface Node {
  desc: OciDescriptor;
  /** a manifest's or index's bytes */
  bytes?: Buffer;
  /** a blob's labels */
  labels?: Record<string, string>;
  kids: Node[];
}

/** Foreign / non-distributable layers stay out of registries (containerd's default). */
const nonDistributable = (mt: string) => mt.includes('.nondistributable.') || mt === 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip';

/** Reads the tree under target; every blob must be present (the error names the first missing). */
async function walk(source: PushSource, desc: OciDescriptor, parent: OciDescriptor | undefined, depth: number): Promise<Node> {
  // a manifest of an index missing here: the image was pulled for some platforms only
  const hint = parent && isIndex(parent.mediaType) ? ' (push one platform with --platform, or pull them all first)' : '';
  const missing = () =>
    new BerthError(
      'NotFound',
      `cannot push: ${describe(desc)}${parent ? ` named by ${refKind(parent)} ${parent.digest}` : ''} is not in the local content store${hint}`,
    );
  if (isIndex(desc.mediaType) || isManifest(desc.mediaType)) {
    if (depth > 8) throw new BerthError('FailedPrecondition', `cannot push: indexes nested too deep at ${desc.digest}`);
    const bytes = await source.read(desc);
    if (!bytes) throw missing();
    const kids = await children(async (d) => (d.digest === desc.digest ? bytes : source.read(d)), desc);
    const nodes = [];
    for (const k of kids) if (!nonDistributable(k.mediaType)) nodes.push(await walk(source, k, desc, depth + 1));
    return { desc, bytes, kids: nodes };
  }
  const labels = await source.labels(desc);
  if (labels === undefined) throw missing();
  return { desc, labels, kids: [] };
}

export async function pushImage(
  registry: RegistryClient,
  source: PushSource,
  ref: Reference,
  target: OciDescriptor,
  opts: PushOptions = {},
): Promise<PushResult> {
  const name = formatReference(ref);
  const report = (desc: OciDescriptor, state: PushState, from?: string) => opts.onProgress?.({ key: refKey(desc), desc, state, ...(from ? { from } : {}) });
  const root = await walk(source, target, undefined, 0);

  // every blob once, even when several manifests share it
  const results: Record<string, PushBlobResult> = {};
  const manifests: string[] = [];
  const started = new Map<string, Promise<void>>();
  const limit = limiter(Math.max(1, opts.concurrency ?? 3));
  const visit = (node: Node): Promise<void> => {
    let p = started.get(node.desc.digest);
    if (p) return p;
    const { desc } = node;
    report(desc, 'waiting');
    p = (async () => {
      await Promise.all(node.kids.map(visit));
      if (node.bytes) {
        // a manifest or index: its children are up; the root goes under the tag
        await limit(() =>
          registry.pushManifest(ref, stripPlatform(desc), node.bytes!, desc === target && ref.tag && !ref.digest ? ref.tag : undefined, opts.signal),
        );
        manifests.push(desc.digest);
        report(desc, 'done');
        return;
      }
      const mountFrom = mountCandidate(ref, node.labels ?? {});
      const result = await limit(() => {
        report(desc, 'pushing');
        return registry.pushBlob(ref, desc, (start, end) => source.open(desc, start, end), { mountFrom, chunkSize: opts.chunkSize, signal: opts.signal });
      });
      results[desc.digest] = result;
      if (result === 'exists') report(desc, 'exists');
      else if (result === 'mounted') report(desc, 'mounted', mountFrom);
      else report(desc, 'done');
    })();
    started.set(desc.digest, p);
    return p;
  };
  await visit(root);
  return { name, target, blobs: results, manifests };
}

const stripPlatform = ({ mediaType, digest, size }: OciDescriptor): OciDescriptor => ({ mediaType, digest, size });

/**
 * ctr push --platform: the first manifest of an index that names the platform becomes what is
 * pushed (and tagged); a manifest is pushed as it is.
 */
export async function selectPlatform(source: PushSource, target: OciDescriptor, platform: Platform): Promise<OciDescriptor> {
  if (!isIndex(target.mediaType)) return target;
  const bytes = await source.read(target);
  if (!bytes) throw new BerthError('NotFound', `cannot push: index ${target.digest} is not in the local content store`);
  const kids = await children(async () => bytes, target);
  const match = kids.find((k) => k.platform && platformMatches(platform, k.platform));
  if (!match) throw new BerthError('NotFound', `cannot push: index ${target.digest} has no manifest for ${formatPlatform(platform)}`);
  return match;
}
