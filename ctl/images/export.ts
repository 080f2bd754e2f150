import type { Writable } from 'node:stream';
import { isNotFound } from '../../core/errors.ts';
import { AnnotationImageName, AnnotationRefName, isIndex, isManifest, MediaType, type OciDescriptor } from '../../core/oci/descriptor.ts';
import { formatPlatform, hostPlatform, type Platform } from '../../core/platform.ts';
import { familiarReference, parseReference } from '../../core/registry/reference.ts';
import type { BerthClient } from '../../transport/client.ts';
import { blobStream, blobs } from './blobs.ts';
import { TarWriter } from './tar.ts';
import { allPlatforms, MissingBlobError, ociReferenceName, onlyPlatforms, walkImage } from './tree.ts';

/**
 * `berth images export`, as containerd's archive.Export with ctr's defaults: an OCI image
 * layout tar (oci-layout, index.json naming each image, blobs/sha256/<hex>) plus Docker's
 * manifest.json for one platform, so that `ctr images import` and `docker load` both take it.
 * Only the wanted platforms' blobs go in (the host's by default), and every one must be present:
 * the check runs before the first byte is written.
 */

export interface ExportOptions {
  /** platforms to export (default: the host's) */
  platforms?: Platform[];
  /** every platform of each index; all their blobs must be present */
  allPlatforms?: boolean;
}

const blobPath = (digest: string) => `blobs/${digest.replace(':', '/')}`;

/** Go's field order for a descriptor in JSON. */
const descriptorJson = (d: OciDescriptor) => ({
  mediaType: d.mediaType,
  digest: d.digest,
  size: d.size,
  ...(d.annotations && Object.keys(d.annotations).length > 0 ? { annotations: d.annotations } : {}),
  ...(d.platform ? { platform: d.platform } : {}),
});

/** docker's RepoTags form of a name (busybox:latest), or nothing for names docker cannot take. */
function repoTag(name: string): string | undefined {
  try {
    const ref = parseReference(name);
    return ref.digest ? undefined : familiarReference(ref);
  } catch {
    return undefined;
  }
}

export async function exportImages(c: BerthClient, out: Writable, names: string[], opts: ExportOptions = {}): Promise<void> {
  const wanted = opts.platforms && opts.platforms.length > 0 ? opts.platforms : [hostPlatform];
  const strict = onlyPlatforms(...wanted);
  const want = opts.allPlatforms ? allPlatforms : strict;
  const { read, has } = blobs(c);

  const index: OciDescriptor[] = [];
  const toWrite = new Map<string, OciDescriptor>();
  const docker = new Map<string, { manifest: OciDescriptor; tags: string[] }>();
  for (const name of names) {
    const { image } = await c.images.Get({ name }).catch((err) => {
      throw isNotFound(err) ? new Error(`image ${name}: not found`) : err;
    });
    const t = image!.target!;
    const target: OciDescriptor = { mediaType: t.media_type, digest: t.digest, size: Number(t.size), annotations: t.annotations ?? {} };
    if (!isIndex(target.mediaType) && !isManifest(target.mediaType))
      throw new Error(`image ${name}: only manifests and indexes can be exported, not ${target.mediaType}`);
    index.push({ ...target, annotations: { ...target.annotations, [AnnotationImageName]: name, [AnnotationRefName]: ociReferenceName(name) } });

    let nodes: Awaited<ReturnType<typeof walkImage>>;
    try {
      nodes = await walkImage(read, has, target, want);
    } catch (err) {
      if (!(err instanceof MissingBlobError)) throw err;
      const hint = opts.allPlatforms ? '; --all-platforms needs every platform, leave it out to export what is present' : '';
      throw new Error(`cannot export ${name}: ${err.message} from the content store${hint}`);
    }
    for (const n of nodes) toWrite.set(n.desc.digest, n.desc);

    // docker load reads one manifest per image: the wanted platform's
    const manifests = nodes.filter((n) => isManifest(n.desc.mediaType));
    const chosen = manifests.find((n) => n.platform && strict(n.platform)) ?? manifests.find((n) => !n.platform) ?? manifests[0];
    if (!chosen) throw new Error(`cannot export ${name}: its index has no manifest for ${wanted.map(formatPlatform).join(', ')}`);
    const entry = docker.get(chosen.desc.digest) ?? { manifest: chosen.desc, tags: [] };
    const tag = repoTag(name);
    if (tag) entry.tags.push(tag);
    docker.set(chosen.desc.digest, entry);
  }

  const manifestJson = [];
  for (const { manifest, tags } of docker.values()) {
    const m = JSON.parse((await read(manifest))!.toString('utf8')) as { config: OciDescriptor; layers?: OciDescriptor[] };
    manifestJson.push({ Config: blobPath(m.config.digest), RepoTags: tags, Layers: (m.layers ?? []).map((l) => blobPath(l.digest)) });
  }

  // containerd's order: names sorted, so blobs/ comes before index.json, manifest.json, oci-layout
  const tar = new TarWriter(out);
  await tar.entry('blobs/', 0);
  await tar.entry('blobs/sha256/', 0);
  for (const d of [...toWrite.values()].sort((a, b) => (a.digest < b.digest ? -1 : 1))) await tar.entry(blobPath(d.digest), d.size, blobStream(c, d));
  const json = (v: unknown) => Buffer.from(JSON.stringify(v));
  const indexBytes = json({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: index.map(descriptorJson) });
  await tar.entry('index.json', indexBytes.length, indexBytes, 0o644);
  const dockerBytes = json(manifestJson);
  await tar.entry('manifest.json', dockerBytes.length, dockerBytes, 0o644);
  const layout = json({ imageLayoutVersion: '1.0.0' });
  await tar.entry('oci-layout', layout.length, layout);
  await tar.finish();
}
