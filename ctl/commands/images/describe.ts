import { Option } from 'commander';
import type { Image__Output } from '../../../api/gen/containerd/services/images/v1/Image.ts';
import { isNotFound } from '../../../core/errors.ts';
import type { OciDescriptor } from '../../../core/oci/descriptor.ts';
import type { BerthClient } from '../../../transport/client.ts';
import type { blobs } from '../../images/blobs.ts';
import { sortedLabels } from '../../output.ts';

// What the images verbs share: reading an image's tree of blobs (size, platforms, which blobs are
// present, whether it is unpacked) and printing descriptors.

type Oci = typeof import('../../../core/oci/image.ts');

/** The image tree helpers, loaded when a command needs them. */
export const oci = (): Promise<Oci> => import('../../../core/oci/image.ts');

export const targetOf = (i: Image__Output): OciDescriptor => ({
  mediaType: i.target?.media_type ?? '',
  digest: i.target?.digest ?? '',
  size: Number(i.target?.size ?? 0),
  annotations: i.target?.annotations ?? {},
});

export async function listImages(c: BerthClient, filters: string[]): Promise<Image__Output[]> {
  return (await c.images.List({ filters })).images;
}

/** Size and platforms of an image as ctr works them out; unreadable trees give undefined / []. */
export async function describe(o: Oci, read: (d: OciDescriptor) => Promise<Buffer | undefined>, image: Image__Output) {
  const target = targetOf(image);
  const size = await o.imageSize(read, target).catch(() => undefined);
  const platforms = await o.imagePlatforms(read, target).catch(() => [] as string[]);
  return { image, target, size, platforms };
}

/** Present and required blobs, and whether the image's layers are unpacked in a snapshotter. */
export async function check(o: Oci, c: BerthClient, { read, has }: ReturnType<typeof blobs>, image: Image__Output, snapshotter: string) {
  const target = targetOf(image);
  const result = await o.checkImage(read, has, target);
  let unpacked = false;
  if (result.resolved) {
    const diffs = await o.diffIds(read, result.resolved.config).catch(() => [] as string[]);
    if (diffs.length > 0) {
      unpacked = await c.snapshots.Stat({ snapshotter, key: o.chainId(diffs) }).then(
        () => true,
        (err) => {
          if (isNotFound(err)) return false;
          throw err;
        },
      );
    }
  }
  const sum = (ds: OciDescriptor[]) => ds.reduce((n, d) => n + d.size, 0);
  const complete = result.available && result.missing.length === 0;
  return { ...result, target, unpacked, complete, presentSize: sum(result.present), requiredSize: sum(result.required) };
}

export type Checked = Awaited<ReturnType<typeof check>> & { name: string };

export const descriptorJson = (d: OciDescriptor) => ({
  mediaType: d.mediaType,
  digest: d.digest,
  size: d.size,
  ...(d.platform ? { platform: d.platform } : {}),
  ...(d.annotations && Object.keys(d.annotations).length > 0 ? { annotations: sortedLabels(d.annotations) } : {}),
});

export const snapshotterOption = () =>
  new Option('--snapshotter <name>', 'snapshotter to look for unpacked layers in').env('BERTH_SNAPSHOTTER').default('overlayfs');
