import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import type { OciDescriptor } from '../../../core/oci/descriptor.ts';
import { MediaType } from '../../../core/oci/descriptor.ts';
import type { Platform } from '../../../core/platform.ts';
import type { RegistryClient } from '../../../core/registry/client.ts';
import type { Reference } from '../../../core/registry/reference.ts';
import { d, f, gz, type RawEntry, s, tar } from '../layers/tarbuild.ts';

/**
 * Small real images built without network from Debian's busybox-static: layers are gzip tars,
 * the config lists their diff IDs, manifests and indexes are OCI (or Docker schema2) JSON. All
 * bytes are in memory (a few MB); `blobs` maps every digest the image names to its bytes.
 */
export interface TestImage {
  /** the root: a manifest, or an index for multi-platform images */
  root: OciDescriptor;
  blobs: Map<string, Buffer>;
  /** manifests (with their platform) in the order they must be pushed, then the root */
  manifests: OciDescriptor[];
  /** layer descriptors of the host-platform manifest, base first */
  layers: OciDescriptor[];
}

export const busyboxPath = '/bin/busybox';
const applets = ['sh', 'ls', 'cat', 'echo', 'true', 'false', 'env', 'mkdir', 'rm'];
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export function busyboxLayerEntries(): RawEntry[] {
  return [
    d('bin/'),
    { name: 'bin/busybox', type: '0', data: readFileSync(busyboxPath), mode: 0o755 },
    ...applets.map((a) => s(`bin/${a}`, 'busybox')),
    d('etc/'),
    f('etc/hostname', 'berth-test\n'),
    f('etc/old-file', 'removed by the next layer\n'),
    d('etc/old-dir/'),
    f('etc/old-dir/a', 'hidden by an opaque whiteout\n'),
    d('tmp/', { mode: 0o1777 }),
  ];
}

export interface BuildOptions {
  /** 'single' (busybox only), 'multi' (a second layer with whiteouts), 'index' (amd64 + fake arm64) */
  kind?: 'single' | 'multi' | 'index';
  format?: 'oci' | 'docker';
  /** a label to make otherwise identical images differ */
  label?: string;
}

export function buildTestImage(opts: BuildOptions = {}): TestImage {
  const format = opts.format ?? 'oci';
  const blobs = new Map<string, Buffer>();
  const add = (mediaType: string, bytes: Buffer, extra: Partial<OciDescriptor> = {}): OciDescriptor => {
    const digest = sha(bytes);
    blobs.set(digest, bytes);
    return { mediaType, digest, size: bytes.length, ...extra };
  };
  const layerType = format === 'oci' ? 'application/vnd.oci.image.layer.v1.tar+gzip' : 'application/vnd.docker.image.rootfs.diff.tar.gzip';
  const configType = format === 'oci' ? MediaType.ociConfig : MediaType.dockerConfig;
  const manifestType = format === 'oci' ? MediaType.ociManifest : MediaType.dockerManifest;
  const indexType = format === 'oci' ? MediaType.ociIndex : MediaType.dockerList;

  const image = (platform: Platform, layerTars: Buffer[]) => {
    const layers = layerTars.map((t) => add(layerType, gz(t)));
    const config = {
      architecture: platform.architecture,
      os: platform.os,
      created: '2026-01-01T00:00:00Z',
      config: {
        Cmd: ['/bin/sh'],
        Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
        Labels: opts.label ? { 'berth.test': opts.label } : undefined,
      },
      rootfs: { type: 'layers', diff_ids: layerTars.map(sha) },
      history: layerTars.map(() => ({ created: '2026-01-01T00:00:00Z', created_by: 'berth test' })),
    };
    const configDesc = add(configType, Buffer.from(JSON.stringify(config)));
    const manifest = { schemaVersion: 2, mediaType: manifestType, config: configDesc, layers };
    return { desc: add(manifestType, Buffer.from(JSON.stringify(manifest, null, 2)), { platform }), layers };
  };

  const base = tar(busyboxLayerEntries());
  const upper = tar([
    d('etc/'),
    f('etc/.wh.old-file'),
    d('etc/old-dir/'),
    f('etc/old-dir/.wh..wh..opq'),
    f('etc/old-dir/b', 'new in layer 2\n'),
    f('etc/motd', 'multi-layer berth test image\n'),
  ]);
  const amd64 = { os: 'linux', architecture: 'amd64' };
  const kind = opts.kind ?? 'single';
  const host = image(amd64, kind === 'single' ? [base] : [base, upper]);
  if (kind !== 'index') {
    const { platform: _p, ...root } = host.desc;
    return { root, blobs, manifests: [root], layers: host.layers };
  }
  const arm = image({ os: 'linux', architecture: 'arm64' }, [tar([d('etc/'), f('etc/arch', 'fake arm64 image: nothing here runs\n')])]);
  const index = { schemaVersion: 2, mediaType: indexType, manifests: [host.desc, arm.desc] };
  const root = add(indexType, Buffer.from(JSON.stringify(index, null, 2)));
  return { root, blobs, manifests: [host.desc, arm.desc, root], layers: host.layers };
}

/** The files of an uncompressed layer tar, name → type/size (for checks). */
export function layerNames(layerGz: Buffer): string[] {
  const t = gunzipSync(layerGz);
  const names: string[] = [];
  for (let off = 0; off + 512 <= t.length; ) {
    const h = t.subarray(off, off + 512);
    if (h.every((x) => x === 0)) break;
    const name = h.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(h.subarray(124, 136).toString('latin1').replace(/\0.*$/s, '').trim() || '0', 8);
    if (h[156] !== 0x78) names.push(name);
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return names;
}

/**
 * Pushes an image with berth's client: blobs of every manifest (layers, config), then the
 * manifests, then the root under `tag`. Returns what happened to each blob.
 */
export async function pushImage(
  client: RegistryClient,
  ref: Reference,
  img: TestImage,
  opts: { chunkSize?: number; mountFrom?: string } = {},
): Promise<Record<string, string>> {
  const results: Record<string, string> = {};
  for (const m of img.manifests) {
    const doc = JSON.parse(img.blobs.get(m.digest)!.toString()) as { config?: OciDescriptor; layers?: OciDescriptor[] };
    for (const b of [...(doc.layers ?? []), ...(doc.config ? [doc.config] : [])]) {
      const bytes = img.blobs.get(b.digest)!;
      results[b.digest] = await client.pushBlob(ref, b, (start, end) => Readable.from([bytes.subarray(start, end)]), opts);
    }
    const { platform: _p, ...desc } = m;
    const isRoot = m.digest === img.root.digest;
    await client.pushManifest(ref, desc, img.blobs.get(m.digest)!, isRoot ? ref.tag : undefined);
  }
  return results;
}
