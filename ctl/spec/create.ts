import { randomBytes } from 'node:crypto';
import type { Container__Output } from '../../api/gen/containerd/services/containers/v1/Container.ts';
import type { GetImageResponse__Output } from '../../api/gen/containerd/services/images/v1/GetImageResponse.ts';
import type { Image__Output } from '../../api/gen/containerd/services/images/v1/Image.ts';
import type { PrepareSnapshotResponse__Output } from '../../api/gen/containerd/services/snapshots/v1/PrepareSnapshotResponse.ts';
import { isNotFound } from '../../core/errors.ts';
import type { Mount } from '../../core/mount.ts';
import { maxJsonBlob, type OciDescriptor } from '../../core/oci/descriptor.ts';
import { chainId, diffIds, resolveManifest } from '../../core/oci/image.ts';
import { hostPlatform, type Platform, parsePlatform } from '../../core/platform.ts';
import { containerRecord } from '../../core/spec/container.ts';
import { parseImageConfig } from '../../core/spec/image-config.ts';
import { buildSpec, type SpecInput } from '../../core/spec/spec.ts';
import type { ImageConfig, Spec } from '../../core/spec/types.ts';
import { withReadOnlyMounts } from '../../native/mount.ts';
import type { BerthClient } from '../../transport/client.ts';
import { blobs } from '../images/blobs.ts';
import { type ContainerFlags, labelArgs, specFlags } from './flags.ts';

/**
 * Creating a container as `ctr run` / `ctr containers create` do (NewContainer): the image and
 * its config, unpacked if need be, a snapshot prepared under a lease, the spec generated with
 * the snapshot mounted read-only here to read /etc/passwd and /etc/group, then
 * Containers.Create. Every step that failed after the snapshot was made removes it again.
 */

export interface ImageInfo {
  record: Image__Output;
  config: ImageConfig;
  /** the top chain ID: the committed snapshot the container's one is prepared on */
  chainId: string;
}

const descriptor = (i: Image__Output): OciDescriptor => ({
  mediaType: i.target?.media_type ?? '',
  digest: i.target?.digest ?? '',
  size: Number(i.target?.size ?? 0),
  annotations: i.target?.annotations ?? {},
});

/** Images.Get alone (callers may start it early and hand it to loadImage / startContainer). */
export function getImage(c: BerthClient, name: string): Promise<GetImageResponse__Output> {
  return c.images.Get({ name });
}

/** Images.Get, then the image config for the platform (the host's unless given). */
export async function loadImage(c: BerthClient, name: string, platform?: string, got?: Promise<GetImageResponse__Output>): Promise<ImageInfo> {
  const { image } = await (got ?? getImage(c, name));
  if (!image) throw new Error(`image "${name}": not found`);
  const { read } = blobs(c);
  const want: Platform = platform ? parsePlatform(platform) : hostPlatform;
  const m = await resolveManifest(read, descriptor(image), want);
  if (m.config.size > maxJsonBlob) throw new Error(`image "${name}": its config is too large (${m.config.size} bytes)`);
  const bytes = await read(m.config);
  if (!bytes) throw new Error(`image "${name}": config ${m.config.digest} is missing from the content store`);
  const config = parseImageConfig(name, bytes);
  const diffs = await diffIds(read, m.config);
  return { record: image, config, chainId: chainId(diffs) };
}

/**
 * Unpacks the image into the snapshotter if its top snapshot is missing, with berthd's unpack
 * (the same berth.services.pull.v1.Pull/Unpack call `berth images unpack` makes), silently.
 */
export async function ensureUnpacked(c: BerthClient, image: ImageInfo, snapshotter: string, platform?: string): Promise<void> {
  if (image.chainId === '') throw new Error(`image "${image.record.name}" has no layers`);
  try {
    await c.snapshots.Stat({ snapshotter, key: image.chainId });
    return;
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  for await (const _ of c.pull.Unpack({ name: image.record.name, platform: platform ?? '', snapshotter }, { deadline: false })) {
    // progress is not shown: `ctr run` unpacks silently too
  }
}

/** A lease like ctr's: `<nanos>-<base64 of 3 random bytes>`, expiring in 24 hours. */
export async function createLease(c: BerthClient): Promise<string> {
  const id = `${BigInt(Date.now()) * 1_000_000n}-${randomBytes(3).toString('base64url')}`;
  const expire = new Date(Date.now() + 24 * 3600_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  await c.leases.Create({ id, labels: { 'containerd.io/gc.expire': expire } });
  return id;
}

const wireMounts = (ms: PrepareSnapshotResponse__Output['mounts']): Mount[] => ms.map((m) => ({ type: m.type, source: m.source, options: m.options }));

export interface CreateOptions {
  id: string;
  image: string;
  args: readonly string[];
  flags: ContainerFlags;
  namespace: string;
  /** extra container labels (e.g. berth's record of a log file) */
  extraLabels?: Record<string, string>;
  /** Images.Get of `image`, if the caller has started it already */
  imageRecord?: Promise<GetImageResponse__Output>;
}

/** Prepares the snapshot, generates the spec and creates the container; returns it. */
export async function createContainer(c: BerthClient, o: CreateOptions): Promise<Container__Output> {
  const { container, leaseReleased } = await startContainer(c, o);
  await leaseReleased;
  return container;
}

export interface CreatedContainer {
  container: Container__Output;
  /** the snapshot's mounts (what Tasks.Create takes as rootfs) */
  mounts: Mount[];
  /** the deletion of the lease the container was made under (never fails); await it before exiting */
  leaseReleased: Promise<void>;
}

/**
 * createContainer, for callers that go on to create the task: the snapshot's mounts are handed
 * back, and the lease is deleted while the caller carries on.
 */
export async function startContainer(c: BerthClient, o: CreateOptions): Promise<CreatedContainer> {
  const { flags } = o;
  const { validateIdentifier } = await import('../../core/identifiers.ts');
  validateIdentifier(o.id);
  const sf = specFlags(flags, o.args);
  // the lease does not depend on the image: made while the image is read
  const leased = createLease(c).then(
    (id) => ({ id }),
    (err: unknown) => ({ err }),
  );
  const release = async () => {
    const l = await leased;
    if ('id' in l) await c.leases.Delete({ id: l.id }).catch(() => undefined);
  };
  let image: ImageInfo;
  try {
    image = await loadImage(c, o.image, flags.platform, o.imageRecord);
    await ensureUnpacked(c, image, flags.snapshotter, flags.platform);
  } catch (err) {
    await release();
    throw err;
  }
  const l = await leased;
  if ('err' in l) throw l.err;
  const md = { lease: l.id };
  const snapshots = c.snapshots;
  let prepared = false;
  try {
    // Prepare answers with the snapshot's mounts, as Snapshots.Mounts would
    const { mounts: wire } = await snapshots.Prepare({ snapshotter: flags.snapshotter, key: o.id, parent: image.chainId, labels: {} }, md);
    prepared = true;
    const mounts = wireMounts(wire);
    const input: SpecInput = { namespace: o.namespace, id: o.id, image: image.config, flags: sf };
    const spec: Spec = await withReadOnlyMounts(mounts, (root) => buildSpec({ ...input, rootfs: root }));

    const container = containerRecord({
      id: o.id,
      image: { name: image.record.name, labels: image.record.labels, config: image.config },
      spec,
      runtime: flags.runtime,
      runcBinary: flags.runcBinary,
      snapshotter: flags.snapshotter,
      labels: { ...labelArgs(flags.label), ...o.extraLabels },
      warn: (m) => process.stderr.write(`berth: warning: ${m}\n`),
    });
    const res = await c.containers.Create({ container }, md);
    return { container: res.container!, mounts, leaseReleased: release() };
  } catch (err) {
    if (prepared) await snapshots.Remove({ snapshotter: flags.snapshotter, key: o.id }).catch(() => undefined);
    await release();
    throw err;
  }
}

/** The spec stored in a container record. */
export function containerSpec(container: Container__Output): Spec | undefined {
  const v = container.spec?.value;
  if (!v || v.length === 0) return undefined;
  return JSON.parse(Buffer.from(v).toString('utf8')) as Spec;
}

/**
 * The snapshot and container of a record, removed in ctr's order (snapshot first). `known` is
 * the record when the caller has it already (it saves a Containers.Get).
 */
export async function deleteContainer(c: BerthClient, id: string, known?: Pick<Container__Output, 'snapshotter' | 'snapshot_key'>): Promise<void> {
  const container = known ?? (await c.containers.Get({ id })).container!;
  if (container.snapshot_key && container.snapshotter) {
    await c.snapshots.Remove({ snapshotter: container.snapshotter, key: container.snapshot_key }).catch((err) => {
      if (!isNotFound(err)) throw err;
    });
  }
  await c.containers.Delete({ id });
}
