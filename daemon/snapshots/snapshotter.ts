import type { Mount } from '../../core/mount.ts';
import { treeUsage } from '../diff/usage.ts';

export type { Mount };

/**
 * Snapshots are the filesystems containers run on, built up as stacks of layers.
 *
 * Vocabulary (containerd's):
 *
 *   - A snapshot is named by a key, unique in its namespace and snapshotter. Every kind of
 *     snapshot shares that one key space: an active snapshot's key, a view's key and a committed
 *     snapshot's name can never collide.
 *   - An **active** snapshot is a writable filesystem: Prepare(key, parent) makes one, and the
 *     returned mounts, mounted anywhere, show the parent's files with writes going to the new
 *     snapshot only.
 *   - A **view** is the read-only counterpart: View(key, parent). It is never committed.
 *   - A **committed** snapshot is frozen: Commit(name, key) turns the active snapshot `key` into
 *     the committed snapshot `name`. The key is gone afterwards (it may be used again for
 *     something new), the files and the parent stay where they were.
 *   - Only committed snapshots can be parents, and a snapshot with children cannot be removed.
 *
 * Importing an image's layers is therefore: Prepare("extract-1", "") → mount, unpack layer 1,
 * unmount → Commit("sha256:<chain 1>", "extract-1"); then Prepare("extract-2", "sha256:<chain 1>")
 * → unpack layer 2 → Commit("sha256:<chain 2>", "extract-2"); and a container's root filesystem
 * is Prepare("<container id>", "sha256:<top chain>").
 *
 * The namespaced bookkeeping (keys, kinds, parents, labels, leases, garbage collection) is the
 * store's (store.ts), kept in the metadata database. A backend, the interface below, only owns
 * directories: the store gives each snapshot a short numeric id and the directory
 * `<root>/snapshots/<id>`, and asks the backend to fill it, to say how to mount it, and to measure
 * it. The store fills new directories under a temporary name and renames them into place within
 * the metadata transaction that records them, and deletes a directory only once its record is
 * gone, so a crash at any point leaves nothing visible half-made.
 */
export interface Snapshotter {
  /** The backend's own directory; snapshot directories are `<root>/snapshots/<id>`. */
  readonly root: string;

  /**
   * Fills the (new, empty, not yet in place) directory of an active snapshot. `parents` are the
   * directories of its committed ancestors, the immediate parent first.
   */
  prepare(dir: string, parents: readonly string[]): Promise<void>;

  /** Fills the new directory of a read-only view, as prepare does. */
  view(dir: string, parents: readonly string[]): Promise<void>;

  /** How to mount an active snapshot or a view: what Prepare, View and Mounts answer. */
  mounts(snapshot: SnapshotDirs): Mount[];

  /** Called while an active snapshot is committed: its usage, stored with the committed record. */
  commit(snapshot: SnapshotDirs): Promise<Usage>;

  /** What an active snapshot uses on disk now (views use nothing of their own). */
  usage(snapshot: SnapshotDirs): Promise<Usage>;

  /**
   * Only for backends whose snapshot directories hold just their own changes (overlay): an
   * active snapshot prepared without a parent is put on `parents` (as prepare would have made
   * it), so that a layer can be applied before its parent is committed.
   */
  rebase?(dir: string, parents: readonly string[]): Promise<void>;
}

/** The kinds of snapshot; the gRPC API spells them VIEW, ACTIVE, COMMITTED. */
export type Kind = 'active' | 'view' | 'committed';

/** A snapshot as a backend sees it: its kind, its directory and its parents' directories. */
export interface SnapshotDirs {
  kind: Kind;
  /** `<root>/snapshots/<id>` */
  dir: string;
  /** the committed ancestors' directories, the immediate parent first */
  parents: readonly string[];
}

/** Disk use of a snapshot's own files (not its parents'). */
export interface Usage {
  /** bytes allocated: the sum of st_blocks * 512 */
  size: number;
  inodes: number;
}

/**
 * containerd's fs.DiskUsage: every inode under dir (dir itself included) counted once, however
 * many hard links it has, with the blocks it has allocated. Files vanishing meanwhile are skipped.
 * Measured where a running container cannot lead the walk out of dir (treeUsage).
 */
export function diskUsage(dir: string): Promise<Usage> {
  return treeUsage(dir);
}
