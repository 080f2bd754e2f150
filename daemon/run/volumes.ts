import { posix } from 'node:path';
import { invalidArgument } from '../../core/errors.ts';
import type { Mount } from '../../core/mount.ts';
import type { SpecMount } from '../../core/spec/types.ts';
import type { VolumeRequest, VolumeStore } from '../volumes/store.ts';

/** The volumes of a run while its container is being made: what the spec mounts instead, and how to let go. */
export interface HeldVolumes {
  /** the request's mounts with each volume turned into a bind of its data directory */
  mounts: SpecMount[];
  /** once the container record exists (which keeps them in use), or the run failed */
  release(): void;
  /** a failed run: the anonymous volumes it made go again */
  discard(): Promise<void>;
}

/**
 * Docker's volumes for a run: each `volume` mount of the request (a name, or none for an
 * anonymous one), and an anonymous volume for each of the image's VOLUME paths no mount covers.
 * They are made if missing and held, and each still empty gets the image's content at its path
 * (copy-up, before the task mounts the volume over it) unless the mount says `nocopy`.
 */
export async function holdVolumes(
  store: VolumeStore,
  ns: string,
  requested: readonly SpecMount[],
  imageVolumes: readonly string[],
  rootfs: readonly Mount[],
): Promise<HeldVolumes> {
  const mounts = [...requested];
  const covered = new Set(mounts.map((m) => posix.normalize(m.destination)));
  for (const path of imageVolumes) {
    if (!path.startsWith('/')) throw invalidArgument(`the image's VOLUME ${JSON.stringify(path)} is not an absolute path`);
    const clean = posix.normalize(path);
    if (clean === '/' || covered.has(clean)) continue;
    covered.add(clean);
    mounts.push({ destination: clean, type: 'volume', source: '', options: [] });
  }
  const at = mounts.flatMap((m, i) => (m.type === 'volume' ? [i] : []));
  if (at.length === 0) return { mounts, release: () => undefined, discard: async () => undefined };
  const requests: VolumeRequest[] = at.map((i) => (mounts[i]!.source ? { name: mounts[i]!.source } : { anonymous: true }));
  const held = await store.reserve(ns, requests);
  const discard = async () => {
    held.release();
    await store.removeAnonymous(
      ns,
      held.volumes.filter((v) => v.anonymous).map((v) => v.mountpoint),
    );
  };
  try {
    const targets: Array<{ name: string; path: string }> = [];
    at.forEach((i, n) => {
      const m = mounts[i]!;
      const options = m.options ?? [];
      const volume = held.volumes[n]!;
      mounts[i] = { destination: m.destination, type: 'bind', source: volume.mountpoint, options: ['rbind', options.includes('ro') ? 'ro' : 'rw'] };
      if (!options.includes('nocopy')) targets.push({ name: volume.name, path: m.destination });
    });
    if (targets.length > 0) await store.populateFromMounts(ns, rootfs, targets);
  } catch (err) {
    await discard();
    throw err;
  }
  return { mounts, release: held.release, discard };
}
