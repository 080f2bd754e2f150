import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { childGcLabels, MediaType, type OciDescriptor } from '../../core/oci/descriptor.ts';
import type { RegistryClient } from '../../core/registry/client.ts';
import type { Reference } from '../../core/registry/reference.ts';
import { BerthClient } from '../../transport/client.ts';
import { writeBlob } from '../../transport/clients/content.ts';
import type { Berthd } from './harness.ts';
import { wireDescriptor } from './image-fixture.ts';
import { d, f, gz, s, tar } from './layers/tarbuild.ts';
import { pushImage } from './registry/images.ts';

/**
 * An image to run containers from, built without network from Debian's busybox-static: one
 * layer with busybox and every applet it has (sh, sleep, id, ps, cat, ...), an /etc/passwd and
 * /etc/group with a non-root user, and an image config with Env, Cmd and a WorkingDir.
 */
export interface RunImage {
  name: string;
  manifest: OciDescriptor;
  blobs: Map<string, { bytes: Buffer; labels: Record<string, string> }>;
}

export const runImageName = 'docker.io/library/busybox:latest';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** The /etc/passwd of the run image: root, daemon-ish `nobody`, and `berth` (1000:1000, also in `audio` and `staff`). */
export const runImagePasswd = [
  'root:x:0:0:root:/root:/bin/sh',
  'nobody:x:65534:65534:nobody:/nonexistent:/bin/false',
  'berth:x:1000:1000:berth user:/home/berth:/bin/sh',
  '',
].join('\n');
export const runImageGroup = ['root:x:0:', 'audio:x:29:berth', 'staff:x:50:berth', 'berth:x:1000:', 'nogroup:x:65534:', ''].join('\n');

export function buildRunImage(opts: { name?: string; config?: Record<string, unknown>; passwd?: string } = {}): RunImage {
  const list = spawnSync('/bin/busybox', ['--list'], { encoding: 'utf8' })
    .stdout.split('\n')
    .filter((a) => a && a !== 'busybox');
  const layer = tar([
    d('bin/'),
    { name: 'bin/busybox', type: '0', data: readFileSync('/bin/busybox'), mode: 0o755 },
    ...list.map((a) => s(`bin/${a}`, 'busybox')),
    d('etc/'),
    f('etc/passwd', opts.passwd ?? runImagePasswd),
    f('etc/group', runImageGroup),
    f('etc/hostname', 'berth-run-image\n'),
    d('home/'),
    d('home/berth/', { uid: 1000, gid: 1000 }),
    d('root/', { mode: 0o700 }),
    d('tmp/', { mode: 0o1777 }),
    d('work/'),
    f('work/hello.txt', 'hello from the run image\n'),
  ]);
  const blobs: RunImage['blobs'] = new Map();
  const add = (mediaType: string, bytes: Buffer, labels: Record<string, string> = {}): OciDescriptor => {
    const digest = sha(bytes);
    blobs.set(digest, { bytes, labels });
    return { mediaType, digest, size: bytes.length };
  };
  const layerGz = gz(layer);
  const layerDesc = add('application/vnd.oci.image.layer.v1.tar+gzip', layerGz, { 'containerd.io/uncompressed': sha(layer) });
  const config = {
    architecture: 'amd64',
    os: 'linux',
    created: '2026-01-01T00:00:00Z',
    config: {
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'IMAGE_VAR=from-image'],
      Cmd: ['/bin/sh'],
      WorkingDir: '/',
      ...opts.config,
    },
    rootfs: { type: 'layers', diff_ids: [sha(layer)] },
    history: [{ created: '2026-01-01T00:00:00Z', created_by: 'berth run image' }],
  };
  const configDesc = add(MediaType.ociConfig, Buffer.from(JSON.stringify(config)));
  const manifestDoc = { schemaVersion: 2, mediaType: MediaType.ociManifest, config: configDesc, layers: [layerDesc] };
  const manifest = add(MediaType.ociManifest, Buffer.from(JSON.stringify(manifestDoc)), childGcLabels([configDesc, layerDesc]));
  return { name: opts.name ?? runImageName, manifest, blobs };
}

let cached: RunImage | undefined;

/** Stores the run image's blobs (under a lease) and its image record in any daemon that `c` talks to. */
export async function storeRunImage(c: BerthClient, img: RunImage = (cached ??= buildRunImage())): Promise<string> {
  const lease = (await c.leases.Create({ id: '' })).lease!;
  const leased = new BerthClient({ ...c.options, lease: lease.id });
  try {
    for (const [digest, blob] of img.blobs) {
      try {
        await writeBlob(leased, blob.bytes, { ref: `run-image-${digest}`, expected: digest, labels: blob.labels });
      } catch (err) {
        if ((err as { code?: string }).code !== 'AlreadyExists') throw err;
      }
    }
    try {
      await c.images.Create({ image: { name: img.name, target: wireDescriptor(img.manifest) } });
    } catch (err) {
      if ((err as { code?: string }).code !== 'AlreadyExists') throw err;
    }
  } finally {
    await c.leases.Delete({ id: lease.id });
    leased.close();
  }
  return img.name;
}

/**
 * Stores the run image in a berthd (namespace `ns`, default 'default'), names it and unpacks it
 * into overlayfs with `berth images unpack`. Returns the image name.
 */
export async function loadRunImage(b: Berthd, opts: { ns?: string; image?: RunImage } = {}): Promise<string> {
  const img = opts.image ?? (cached ??= buildRunImage());
  const ns = opts.ns ?? 'default';
  const c = new BerthClient({ address: b.address, namespace: ns });
  try {
    await storeRunImage(c, img);
  } finally {
    c.close();
  }
  const r = b.berth(['-n', ns, 'images', 'unpack', img.name]);
  if (r.code !== 0) throw new Error(`berth images unpack ${img.name}: ${r.stderr}`);
  return img.name;
}

/** Pushes the run image to a registry with berth's registry client, under `ref`'s tag. */
export async function pushRunImage(client: RegistryClient, ref: Reference, img: RunImage = (cached ??= buildRunImage())): Promise<void> {
  const blobs = new Map([...img.blobs].map(([digest, blob]) => [digest, blob.bytes]));
  await pushImage(client, ref, { root: img.manifest, blobs, manifests: [img.manifest], layers: [] });
}
