import { gzipSync } from 'node:zlib';
import { MediaType, type OciDescriptor } from '../../core/oci/descriptor.ts';
import { hostPlatform, type Platform } from '../../core/platform.ts';
import { sha } from './util.ts';

/** One blob of a test image: its descriptor, bytes, and the labels ctr's pull would give it. */
export interface Blob {
  desc: OciDescriptor;
  bytes: Buffer;
  labels: Record<string, string>;
}

export interface TestImage {
  index: Blob;
  manifest: Blob;
  config: Blob;
  layer: Blob;
  /** every blob, children before parents (the order a pull commits them in) */
  blobs: Blob[];
  /** the index's descriptor, what an image record points at */
  target: OciDescriptor;
  /** a second platform the index names, whose manifest is not stored (a one-platform pull) */
  otherPlatform: Platform;
  diffId: string;
}

/** A one-file ustar archive. */
function tar(name: string, data: Buffer): Buffer {
  const header = Buffer.alloc(512);
  const field = (at: number, len: number, value: string) => header.write(value, at, len, 'latin1');
  field(0, 100, name);
  field(100, 8, '0000644\0');
  field(108, 8, '0000000\0');
  field(116, 8, '0000000\0');
  field(124, 12, `${data.length.toString(8).padStart(11, '0')}\0`);
  field(136, 12, '00000000000\0');
  field(148, 8, '        ');
  field(156, 1, '0');
  field(257, 8, 'ustar\x0000');
  let sum = 0;
  for (const b of header) sum += b;
  field(148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  const padding = Buffer.alloc((512 - (data.length % 512)) % 512);
  return Buffer.concat([header, data, padding, Buffer.alloc(1024)]);
}

const blob = (mediaType: string, bytes: Buffer, labels: Record<string, string> = {}, extra: Partial<OciDescriptor> = {}): Blob => ({
  desc: { mediaType, digest: sha(bytes), size: bytes.length, ...extra },
  bytes,
  labels,
});

const json = (value: unknown) => Buffer.from(JSON.stringify(value));
const bare = ({ mediaType, digest, size }: OciDescriptor) => ({ mediaType, digest, size });

/**
 * A tiny but real OCI image: a gzipped layer with one file, a config naming its diff ID, a
 * manifest, and an index listing that manifest for the host's platform and one more manifest
 * (not stored) for another platform. seed makes the bytes, and so the digests, unique.
 */
export function buildImage(seed: string): TestImage {
  const raw = tar('hello.txt', Buffer.from(`hello from ${seed}\n`));
  const diffId = sha(raw);
  const layer = blob('application/vnd.oci.image.layer.v1.tar+gzip', gzipSync(raw));
  const config = blob(
    MediaType.ociConfig,
    json({ architecture: hostPlatform.architecture, os: hostPlatform.os, config: { Cmd: ['/hello'] }, rootfs: { type: 'layers', diff_ids: [diffId] } }),
  );
  const manifest = blob(
    MediaType.ociManifest,
    json({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: bare(config.desc), layers: [bare(layer.desc)] }),
    {
      'containerd.io/gc.ref.content.config': config.desc.digest,
      'containerd.io/gc.ref.content.l.0': layer.desc.digest,
    },
  );
  const otherPlatform: Platform = { os: 'linux', architecture: hostPlatform.architecture === 'amd64' ? 'arm64' : 'amd64' };
  const absent = { mediaType: MediaType.ociManifest, digest: sha(`absent ${seed}`), size: 1234, platform: otherPlatform };
  const index = blob(
    MediaType.ociIndex,
    json({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [{ ...bare(manifest.desc), platform: hostPlatform }, absent] }),
    { 'containerd.io/gc.ref.content.m.0': manifest.desc.digest, 'containerd.io/gc.ref.content.m.1': absent.digest },
  );
  return { index, manifest, config, layer, blobs: [layer, config, manifest, index], target: index.desc, otherPlatform, diffId };
}

/** The wire form of a descriptor (containerd.types.Descriptor). */
export const wireDescriptor = (d: OciDescriptor) => ({ media_type: d.mediaType, digest: d.digest, size: d.size, annotations: d.annotations ?? {} });
