import type { Platform } from '../platform.ts';

/** OCI and Docker image media types and descriptors, as image indexes, manifests and the content store name them. */
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

/** Annotations naming an image in an index (containerd's and OCI's). */
export const AnnotationImageName = 'io.containerd.image.name';
export const AnnotationRefName = 'org.opencontainers.image.ref.name';

/** ctr's ref key for a descriptor (remotes.MakeRefKey), by which progress and errors name it. */
export function refKey(d: OciDescriptor): string {
  const name = d.annotations?.[AnnotationRefName];
  if (name) return `${name}@${d.digest}`;
  const mt = d.mediaType;
  if (isIndex(mt)) return `index-${d.digest}`;
  if (isManifest(mt)) return `manifest-${d.digest}`;
  if (/config/.test(mt)) return `config-${d.digest}`;
  if (/layer|rootfs\.diff|tar/.test(mt)) return `layer-${d.digest}`;
  return `unknown-${d.digest}`;
}
