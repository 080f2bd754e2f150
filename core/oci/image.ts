import { createHash } from 'node:crypto';
import { BerthError, failedPrecondition, notFound } from '../errors.ts';

/**
 * OCI and Docker image trees: media types, platforms, and the walks containerd's image helpers
 * make (images.Manifest, Image.Size, images.Platforms, images.Check). Pure functions over a
 * reader of blobs, so the CLI (over gRPC) and the daemon (over the store) can share them.
 */
export const MediaType = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
} as const;

export const isIndex = (mt: string) => mt === MediaType.ociIndex || mt === MediaType.dockerList;
export const isManifest = (mt: string) => mt === MediaType.ociManifest || mt === MediaType.dockerManifest;
export const isConfig = (mt: string) => mt === MediaType.ociConfig || mt === MediaType.dockerConfig;

/** The gc.ref label keys a parent gives its children, as containerd's SetChildrenLabels/ChildGCLabels. */
export function childGcLabels(kids: readonly OciDescriptor[]): Record<string, string> {
  const labels: Record<string, string> = {};
  const seen = new Map<string, number>();
  for (const ch of kids) {
    let key = isConfig(ch.mediaType)
      ? 'containerd.io/gc.ref.content.config'
      : isManifest(ch.mediaType)
        ? 'containerd.io/gc.ref.content.m.'
        : /\.layer\.|\.rootfs\./.test(ch.mediaType)
          ? 'containerd.io/gc.ref.content.l.'
          : 'containerd.io/gc.ref.content.';
    const n = seen.get(key) ?? 0;
    seen.set(key, n + 1);
    if (n > 0 || key.endsWith('.')) key = `${key}${n}`;
    labels[key] = ch.digest;
  }
  return labels;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface OciDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

/** Reads a blob's bytes; undefined when the content store does not have it. */
export type BlobReader = (desc: OciDescriptor) => Promise<Buffer | undefined>;

/** Indexes, manifests and configs are small; anything bigger is refused rather than parsed. */
export const maxJsonBlob = 4 << 20;

// Node's names for CPU architectures → Go's (GOARCH), which platforms are spelled in.
const goArch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };

export const hostPlatform: Platform = { os: 'linux', architecture: goArch[process.arch] ?? process.arch };

/** containerd's platforms.Normalize, for the spellings images carry. */
export function normalizePlatform(p: Platform): Platform {
  const os = p.os.toLowerCase();
  let arch = p.architecture.toLowerCase();
  let variant = (p.variant ?? '').toLowerCase();
  if (arch === 'i386') arch = '386';
  else if (arch === 'x86_64' || arch === 'x86-64') arch = 'amd64';
  else if (arch === 'aarch64' || arch === 'arm64') {
    arch = 'arm64';
    if (variant === '8' || variant === 'v8') variant = '';
  } else if (arch === 'armhf') [arch, variant] = ['arm', 'v7'];
  else if (arch === 'armel') [arch, variant] = ['arm', 'v6'];
  else if (arch === 'arm') variant = variant === '' || variant === '7' ? 'v7' : /^[568]$/.test(variant) ? `v${variant}` : variant;
  return variant ? { os, architecture: arch, variant } : { os, architecture: arch };
}

/** os/arch[/variant], or "unknown" without an os (platforms.Format). */
export const formatPlatform = (p: Platform) => (p.os ? [p.os, p.architecture, p.variant].filter(Boolean).join('/') : 'unknown');

/** Whether an image for p runs on want (platforms.Only, without the compatible variants). */
export function platformMatches(want: Platform, p: Platform): boolean {
  const a = normalizePlatform(want);
  const b = normalizePlatform(p);
  return a.os === b.os && a.architecture === b.architecture && (a.variant ?? '') === (b.variant ?? '');
}

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
