import { createHash } from 'node:crypto';
import { BerthError, failedPrecondition, notFound } from '../errors.ts';
import { formatPlatform, hostPlatform, normalizePlatform, type Platform, platformMatches } from '../platform.ts';
import { type BlobReader, isConfig, isIndex, isManifest, maxJsonBlob, type OciDescriptor } from './descriptor.ts';

/**
 * The walks containerd's image helpers make over OCI and Docker image trees (images.Manifest,
 * Image.Size, images.Platforms, images.Check). Pure functions over a reader of blobs, so the CLI
 * (over gRPC) and the daemon (over the store) can share them.
 */
interface ManifestJson {
  config: OciDescriptor;
  layers: OciDescriptor[];
}

async function readJson<T>(read: BlobReader, desc: OciDescriptor): Promise<T> {
  if (desc.size > maxJsonBlob) throw failedPrecondition(`${desc.mediaType} ${desc.digest} is ${desc.size} bytes, over the ${maxJsonBlob} byte limit`);
  const bytes = await read(desc);
  if (!bytes) throw notFound(`content digest ${desc.digest}`);
  try {
    return JSON.parse(bytes.toString('utf8')) as T;
  } catch (err) {
    throw new BerthError('DataLoss', `${desc.mediaType} ${desc.digest} is not valid JSON: ${(err as Error).message}`);
  }
}

/** The descriptors an index or manifest names (config first, then layers); none for others. */
export async function children(read: BlobReader, desc: OciDescriptor): Promise<OciDescriptor[]> {
  if (isIndex(desc.mediaType)) return (await readJson<{ manifests?: OciDescriptor[] }>(read, desc)).manifests ?? [];
  if (isManifest(desc.mediaType)) {
    const m = await readJson<Partial<ManifestJson>>(read, desc);
    return [...(m.config ? [m.config] : []), ...(m.layers ?? [])];
  }
  return [];
}

export interface ResolvedManifest {
  /** the index(es) walked through and the manifest chosen, root first */
  path: OciDescriptor[];
  manifest: OciDescriptor;
  config: OciDescriptor;
  layers: OciDescriptor[];
}

/**
 * The manifest of an image for one platform (images.Manifest): through indexes, the first
 * manifest whose platform matches, those that name none coming last.
 */
export async function resolveManifest(read: BlobReader, target: OciDescriptor, platform: Platform = hostPlatform): Promise<ResolvedManifest> {
  const path: OciDescriptor[] = [];
  let desc = target;
  for (let depth = 0; depth < 8; depth++) {
    path.push(desc);
    if (isManifest(desc.mediaType)) {
      const m = await readJson<Partial<ManifestJson>>(read, desc);
      if (!m.config) throw failedPrecondition(`manifest ${desc.digest} has no config`);
      // a manifest an index lists without a platform is for the platform its config names
      if (desc !== target && !desc.platform) {
        const c = await readJson<{ os?: string; architecture?: string }>(read, m.config);
        if (!platformMatches(platform, { os: c.os ?? '', architecture: c.architecture ?? '' })) break;
      }
      return { path, manifest: desc, config: m.config, layers: m.layers ?? [] };
    }
    if (!isIndex(desc.mediaType)) throw failedPrecondition(`unexpected media type ${desc.mediaType} for ${desc.digest}`);
    const candidates = (await children(read, desc)).filter(
      (c) => (isIndex(c.mediaType) || isManifest(c.mediaType)) && (!c.platform || platformMatches(platform, c.platform)),
    );
    // containerd follows only the best child of each index: one naming a platform before one naming none
    const next = candidates.find((c) => c.platform) ?? candidates[0];
    if (!next) break;
    desc = next;
    if (depth === 7) throw failedPrecondition(`image ${target.digest}: indexes nested too deep`);
  }
  throw notFound(`manifest ${target.digest}: no match for platform in manifest`);
}

/** What an image takes for one platform: the indexes, the manifest, its config and layers (Image.Size). */
export async function imageSize(read: BlobReader, target: OciDescriptor, platform: Platform = hostPlatform): Promise<number> {
  const m = await resolveManifest(read, target, platform);
  return [...m.path, m.config, ...m.layers].reduce((sum, d) => sum + d.size, 0);
}

/** Every platform an image offers (images.Platforms), formatted, sorted, once each. */
export async function imagePlatforms(read: BlobReader, target: OciDescriptor): Promise<string[]> {
  const found = new Set<string>();
  const visit = async (desc: OciDescriptor, depth: number): Promise<void> => {
    if (desc.platform) {
      found.add(formatPlatform(desc.platform));
      return;
    }
    if (isConfig(desc.mediaType)) {
      const c = await readJson<{ os?: string; architecture?: string }>(read, desc);
      found.add(formatPlatform(normalizePlatform({ os: c.os ?? '', architecture: c.architecture ?? '' })));
      return;
    }
    if (depth > 8) throw failedPrecondition(`image ${target.digest}: indexes nested too deep`);
    for (const child of await children(read, desc)) await visit(child, depth + 1);
  };
  await visit(target, 0);
  return [...found].sort();
}

export interface CheckResult {
  /** the manifest for the platform could be read */
  available: boolean;
  required: OciDescriptor[];
  present: OciDescriptor[];
  missing: OciDescriptor[];
  resolved?: ResolvedManifest;
}

/**
 * Which blobs of an image are here (images.Check): with its manifest readable, the config and
 * layers are required; without, the image is unavailable.
 */
export async function checkImage(
  read: BlobReader,
  has: (desc: OciDescriptor) => Promise<boolean>,
  target: OciDescriptor,
  platform: Platform = hostPlatform,
): Promise<CheckResult> {
  let resolved: ResolvedManifest;
  try {
    resolved = await resolveManifest(read, target, platform);
  } catch (err) {
    if (err instanceof BerthError && err.code === 'NotFound') return { available: false, required: [target], present: [], missing: [target] };
    throw err;
  }
  const required = [resolved.config, ...resolved.layers];
  const present: OciDescriptor[] = [];
  const missing: OciDescriptor[] = [];
  for (const d of required) ((await has(d)) ? present : missing).push(d);
  return { available: true, required, present, missing, resolved };
}

/** The layers' uncompressed digests from an image config (rootfs.diff_ids). */
export async function diffIds(read: BlobReader, config: OciDescriptor): Promise<string[]> {
  const c = await readJson<{ rootfs?: { diff_ids?: string[] } }>(read, config);
  return c.rootfs?.diff_ids ?? [];
}

/** The chain IDs of each stack of layers: chain_0 = diff_0, chain_n = sha256(chain_{n-1} + " " + diff_n). */
export function chainIds(diffs: readonly string[]): string[] {
  const out: string[] = [];
  for (const diff of diffs) {
    const prev = out.at(-1);
    out.push(prev === undefined ? diff : `sha256:${createHash('sha256').update(`${prev} ${diff}`).digest('hex')}`);
  }
  return out;
}

/** The chain ID of the whole stack ('' for none): the name its unpacked snapshot has. */
export const chainId = (diffs: readonly string[]): string => chainIds(diffs).at(-1) ?? '';
