import { type BlobReader, isConfig, isIndex, isManifest, type OciDescriptor } from '../../core/oci/descriptor.ts';
import { children } from '../../core/oci/image.ts';
import { formatPlatform, type Platform, platformMatches } from '../../core/platform.ts';

/** Which platforms a walk keeps; descriptors naming no platform are always kept. */
export type PlatformFilter = (p: Platform) => boolean;

export const allPlatforms: PlatformFilter = () => true;
export const onlyPlatforms =
  (...want: Platform[]): PlatformFilter =>
  (p) =>
    want.some((w) => platformMatches(w, p));

/** The OCI ref name for a full image name: its tag (and digest), as containerd's ociReferenceName. */
export function ociReferenceName(name: string): string {
  const last = name.slice(name.lastIndexOf('/') + 1);
  const at = last.search(/[:@]/);
  if (at < 0) return name;
  return last[at] === ':' ? last.slice(at + 1) : last.slice(at);
}

export interface TreeNode {
  desc: OciDescriptor;
  /** the platform this descriptor is for, from itself or the index entry above it */
  platform?: Platform;
  /** what an index or manifest names that the walk kept (empty for configs and layers) */
  kids: OciDescriptor[];
}

/** A descriptor an image needs that is not there; the message names it and its platform. */
export class MissingBlobError extends Error {
  constructor(
    readonly desc: OciDescriptor,
    readonly platform: Platform | undefined,
  ) {
    const kind = isIndex(desc.mediaType) ? 'index' : isManifest(desc.mediaType) ? 'manifest' : isConfig(desc.mediaType) ? 'config' : 'blob';
    super(
      `${kind} ${desc.digest} (${desc.mediaType || 'no media type'}, ${desc.size} bytes${platform ? `, platform ${formatPlatform(platform)}` : ''}) is missing`,
    );
  }
}

const validDigest = /^sha256:[a-f0-9]{64}$/;

/**
 * Every descriptor of an image tree, each once, parents before children: indexes keep only the
 * entries whose platform `want` accepts (and those naming none), manifests give their config and
 * layers. Indexes and manifests are read; every other blob must be reported present by `has`.
 * A missing one throws MissingBlobError.
 */
export async function walkImage(read: BlobReader, has: (d: OciDescriptor) => Promise<boolean>, root: OciDescriptor, want: PlatformFilter): Promise<TreeNode[]> {
  const nodes = new Map<string, TreeNode>();
  const visit = async (desc: OciDescriptor, platform: Platform | undefined, depth: number): Promise<void> => {
    if (nodes.has(desc.digest)) return;
    if (!validDigest.test(desc.digest)) throw new Error(`invalid digest "${desc.digest}" in image tree (only sha256 is supported)`);
    if (depth > 8) throw new Error(`image ${root.digest}: indexes nested too deep`);
    const p = desc.platform ?? platform;
    const node: TreeNode = { desc, ...(p ? { platform: p } : {}), kids: [] };
    if (isIndex(desc.mediaType) || isManifest(desc.mediaType)) {
      if (!(await read(desc))) throw new MissingBlobError(desc, p);
      node.kids = (await children(read, desc)).filter((k) => !k.platform || !isIndex(desc.mediaType) || want(k.platform));
    } else if (!(await has(desc))) {
      throw new MissingBlobError(desc, p);
    }
    nodes.set(desc.digest, node);
    for (const k of node.kids) await visit(k, p, depth + 1);
  };
  await visit(root, undefined, 0);
  return [...nodes.values()];
}
