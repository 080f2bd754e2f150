import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { Descriptor } from '../../api/gen/containerd/types/Descriptor.ts';
import { BerthError, invalidArgument } from '../../core/errors.ts';
import type { Mount } from '../../core/mount.ts';
import { mountAll, unmountAll } from '../../native/mount.ts';
import type { ContentStore } from '../content/store.ts';
import { type Applied, applyLayer } from './apply.ts';
import { writeDiff } from './compare.ts';
import { compressionOf, mediaTypes } from './compression.ts';
import { type GrowingBlob, reserveUnpackers } from './unpacker.ts';

/**
 * The `walking` differ: applies layers onto mounts and computes layers between mounts.
 *
 * Apply guarantees: nothing outside the target mounts is ever touched (the unpack child is
 * chroot'ed into the target); temporary mounts are always unmounted, also on error. A failed
 * Apply is reported with the entry and the reason. Inside the target (the mounted snapshot, or
 * the upperdir on the overlay fast path; see applyLayer): empty target: all or nothing; non-empty
 * target: entries before the failure stay; callers remove the active snapshot (as containerd's
 * unpacker does).
 */
export interface CompareRequest {
  mediaType?: string;
  ref?: string;
  labels?: Record<string, string>;
  lease?: string;
}

export class WalkingDiffer {
  constructor(
    private readonly store: ContentStore,
    /** where temporary mount points are made (under the daemon's state dir) */
    private readonly tmpRoot: string,
  ) {}

  /**
   * Applies the blob desc names, from the content store, or from `source` when given (the pull
   * streams a layer while it downloads; the caller then checks the blob before keeping the result).
   */
  async apply(ns: string, desc: { media_type: string; digest: string }, mounts: readonly Mount[], source?: GrowingBlob): Promise<Descriptor> {
    compressionOf(desc.media_type); // unsupported media types fail before any work
    if (mounts.length === 0) throw invalidArgument('mounts are required to apply a layer');
    const blob = await this.blobOf(ns, desc, source);
    const upper = overlayUpperdir(mounts);
    const run = (root: string, mode: 'plain' | 'overlay') => applyLayer({ root, mode, mediaType: desc.media_type, blob, parents: lowerdirs(mounts) });
    return applied(upper !== undefined ? await run(upper, 'overlay') : await this.withMounts(mounts, (root) => run(root, 'plain')));
  }

  /** The layer's bytes: `source`, or the blob in the store. */
  private async blobOf(ns: string, desc: { media_type: string; digest: string }, source: GrowingBlob | undefined): Promise<string | GrowingBlob> {
    return source ?? (await this.store.reader(ns, desc.digest)).path;
  }

  /** n layers are about to be applied side by side: their unpack processes start now. */
  expectApplies(n: number): void {
    reserveUnpackers(n);
  }

  /**
   * Applies a layer onto an overlay upperdir whose lowers are still being written (the pull's
   * parallel unpack): the entries go in now; the attributes of the parent directories the layer
   * lacks are copied from the lowerdirs of `mounts` (the snapshot's overlay once it has its
   * parent) when that resolves. Same guarantees as apply.
   */
  async applyToUpper(
    ns: string,
    desc: { media_type: string; digest: string },
    upper: string,
    mounts: Promise<readonly Mount[]>,
    source?: GrowingBlob,
  ): Promise<Descriptor> {
    compressionOf(desc.media_type);
    const blob = await this.blobOf(ns, desc, source);
    const lowers = mounts.then((m) => {
      if (overlayUpperdir(m) !== upper) throw new BerthError('Internal', `the snapshot applied to no longer mounts ${upper} as its upperdir`);
      return lowerdirs(m);
    });
    return applied(await applyLayer({ root: upper, mode: 'overlay', mediaType: desc.media_type, blob, parents: lowers }));
  }

  async compare(ns: string, lower: readonly Mount[], upper: readonly Mount[], req: CompareRequest): Promise<Descriptor> {
    const opts = { store: this.store, ns, mediaType: req.mediaType, ref: req.ref, labels: req.labels, lease: req.lease };
    const upperdir = overlayUpperdir(upper);
    // the upperdir alone is the change only when lower is exactly the overlay's lowerdirs
    if (
      upperdir !== undefined &&
      sameLayers(layersOf(lower), layersOf([{ ...upper[0]!, options: upper[0]!.options.filter((o) => !o.startsWith('upperdir=')) }]))
    ) {
      return writeDiff({ ...opts, mode: 'overlay', upper: upperdir });
    }
    // as containerd: the upper side is mounted read-only
    const readOnly = upper.map((m) => ({ ...m, options: [...m.options.filter((o) => o !== 'rw' && o !== 'ro'), 'ro'] }));
    return this.withMounts(lower, (lowerRoot) =>
      this.withMounts(readOnly, (upperRoot) => writeDiff({ ...opts, mode: 'trees', lower: lowerRoot, upper: upperRoot })),
    );
  }

  /** Mounts on a private temporary directory, runs fn, and always unmounts. */
  private async withMounts<T>(mounts: readonly Mount[], fn: (root: string) => Promise<T>): Promise<T> {
    await fs.mkdir(this.tmpRoot, { recursive: true, mode: 0o700 });
    const dir = await fs.mkdtemp(join(this.tmpRoot, 'mount-'));
    try {
      if (mounts.length > 0) await mountAll(mounts, dir);
      try {
        return await fn(dir);
      } finally {
        if (mounts.length > 0) await unmountAll(dir);
      }
    } finally {
      // never recursive: if the unmount failed, the directory still shows the snapshot
      await fs.rmdir(dir).catch(() => undefined);
    }
  }
}

/**
 * containerd's overlay fast path: exactly one overlay mount with an upperdir is applied to (or
 * diffed from) the upperdir directly, with overlay-format whiteouts.
 */
export function overlayUpperdir(mounts: readonly Mount[]): string | undefined {
  if (mounts.length !== 1 || mounts[0]!.type !== 'overlay') return undefined;
  const opt = mounts[0]!.options.find((o) => o.startsWith('upperdir='));
  if (opt === undefined) return undefined;
  const dir = opt.slice('upperdir='.length);
  if (!dir.startsWith('/')) throw invalidArgument(`overlay upperdir must be absolute: ${JSON.stringify(dir)}`);
  return dir;
}

const applied = (a: Applied): Descriptor => ({ media_type: mediaTypes.ociLayer, digest: a.diffID, size: a.size });

/** An overlay mount's lowerdirs, topmost first, whose attributes missing parents copy; none for other mounts. */
function lowerdirs(mounts: readonly Mount[]): string[] {
  if (overlayUpperdir(mounts) === undefined) return [];
  return (layersOf(mounts)?.slice(1) ?? []).filter((d) => d.startsWith('/'));
}

/** The directories a mount list shows, topmost first (undefined: not a plain bind/overlay stack). */
function layersOf(mounts: readonly Mount[]): string[] | undefined {
  if (mounts.length === 0) return [];
  if (mounts.length !== 1) return undefined;
  const m = mounts[0]!;
  if (m.type === 'bind') return [m.source];
  if (m.type !== 'overlay') return undefined;
  const opt = (name: string) => m.options.find((o) => o.startsWith(`${name}=`))?.slice(name.length + 1);
  const upper = opt('upperdir');
  return [...(upper ? [upper] : []), ...(opt('lowerdir')?.split(':') ?? [])];
}

function sameLayers(a: string[] | undefined, b: string[] | undefined): boolean {
  return a !== undefined && b !== undefined && a.length === b.length && a.every((d, i) => d === b[i]);
}

export function toMounts(mounts: ReadonlyArray<{ type: string; source: string; options: string[] }> | undefined): Mount[] {
  return (mounts ?? []).map((m) => {
    if (!m.type) throw new BerthError('InvalidArgument', 'mount type is required');
    return { type: m.type, source: m.source, options: m.options ?? [] };
  });
}
