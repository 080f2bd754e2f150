import { type BigIntStats, promises as fsp } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { BerthError } from '../../core/errors.ts';
import * as native from '../../native/index.ts';
import type { ApplyMode } from './applier.ts';
import { compressionOf } from './compression.ts';
import type { UnpackResult } from './unpack-child.ts';
import { type GrowingBlob, runUnpack } from './unpacker.ts';

/**
 * Applies a layer onto a directory through the unpack child (unpack-child.ts), which chroot()s
 * into the directory before it reads the archive. The daemon only streams bytes to it, so a
 * hostile archive or a parser crash costs the child, never the daemon.
 *
 * Guarantees on failure (what Apply promises): nothing outside `root` is created, modified or
 * removed, whatever the archive holds (the kernel enforces it: the child's root is `root`).
 * Inside `root`, see {@link applyLayer}: empty target: all or nothing; non-empty target: entries
 * before the failure stay; callers remove the active snapshot.
 */
export interface ApplyOptions {
  /** the directory to apply onto: a mounted rootfs, or an overlay upperdir in 'overlay' mode */
  root: string;
  mode: ApplyMode;
  mediaType: string;
  /** the (possibly compressed) layer bytes: a file, or one still being written */
  blob: string | GrowingBlob;
  /**
   * overlay mode: the lowerdirs, topmost first, whose directory attributes missing parents copy;
   * a promise when the lowers are still being written (asked only after the last entry)
   */
  parents?: readonly string[] | Promise<readonly string[]>;
  /** told the unpack child's pid (tests watch its memory) */
  onSpawn?: (pid: number) => void;
}

export interface Applied {
  /** sha256 of the uncompressed stream, read to EOF */
  diffID: string;
  /** uncompressed byte count */
  size: number;
  warnings: UnpackResult['warnings'];
}

/**
 * Applies the layer onto `opts.root`. On failure of any kind (a refused entry, a truncated or
 * corrupt stream, a digest problem, the child killed, ENOSPC):
 *
 * - empty target: all or nothing. When `root` was empty as Apply started (every unpack onto a
 *   fresh snapshot), it is emptied again, and its own xattrs (e.g. overlay's opaque mark), owner,
 *   mode and times are put back, so the target is as it was before.
 * - non-empty target: entries before the failure stay; callers remove the active snapshot (as
 *   containerd's unpacker does).
 *
 * The error is the unpack error either way (if the rollback itself fails, its reason is added).
 */
export async function applyLayer(opts: ApplyOptions): Promise<Applied> {
  // lowers that fail are seen by the unpack run; until then their failure is not unhandled
  if (opts.parents instanceof Promise) opts.parents.catch(() => undefined);
  const before = await emptyTarget(opts.root);
  try {
    return await unpack(opts);
  } catch (err) {
    if (!before) throw err;
    try {
      await emptyAgain(before);
    } catch (undo) {
      const code = err instanceof BerthError ? err.code : 'Unknown';
      throw new BerthError(code, `${(err as Error).message} (and the target could not be emptied again: ${(undo as Error).message})`, { cause: err });
    }
    throw err;
  }
}

/** What an empty target looked like: its own attributes, to put back after a failed Apply. */
interface EmptyTarget {
  dir: string;
  st: BigIntStats;
  xattrs: Map<string, Buffer>;
}

/** The target's attributes when it is an empty directory, else undefined (no rollback). */
async function emptyTarget(root: string): Promise<EmptyTarget | undefined> {
  const dir = resolve(root);
  let st: BigIntStats;
  try {
    st = await fsp.lstat(dir, { bigint: true }); // before reading it: that may change its atime
    if (!st.isDirectory()) return undefined;
    const d = await fsp.opendir(dir);
    try {
      if ((await d.read()) !== null) return undefined;
    } finally {
      await d.close();
    }
  } catch {
    return undefined; // the unpack child reports what is wrong with the target
  }
  const xattrs = new Map<string, Buffer>();
  for (const name of native.llistxattr(dir)) {
    const value = native.lgetxattr(dir, name);
    if (value) xattrs.set(name, value);
  }
  return { dir, st, xattrs };
}

/**
 * Removes everything in the target (the unpack child is gone by now, nothing else writes there)
 * and restores the target directory's own attributes. Each top-level name is removed with
 * fs.rm, which unlinks symlinks rather than following them; a mount found under the target
 * (none can come from the layer) stops it rather than being descended into.
 */
async function emptyAgain(before: EmptyTarget): Promise<void> {
  const { dir, st } = before;
  if (dir === '/') throw new Error('refusing to empty /');
  const real = await fsp.realpath(dir);
  const mounted = (await fsp.readFile('/proc/self/mountinfo', 'utf8'))
    .split('\n')
    .map((l) => l.split(' ')[4]?.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .find((m) => m?.startsWith(`${real}/`));
  if (mounted !== undefined) throw new Error(`${mounted} is mounted under the target`);
  for (const name of await fsp.readdir(dir)) {
    const path = join(dir, name);
    if (dirname(path) !== dir || name === '.' || name === '..') throw new Error(`unexpected name ${JSON.stringify(name)} in the target`);
    await fsp.rm(path, { recursive: true, force: true });
  }
  const now = new Map(native.llistxattr(dir).map((n) => [n, native.lgetxattr(dir, n)] as const));
  for (const name of now.keys()) if (!before.xattrs.has(name)) native.lremovexattr(dir, name);
  for (const [name, value] of before.xattrs) if (!now.get(name)?.equals(value)) native.lsetxattr(dir, name, value);
  const cur = await fsp.lstat(dir, { bigint: true });
  if (cur.uid !== st.uid || cur.gid !== st.gid) await fsp.lchown(dir, Number(st.uid), Number(st.gid));
  if ((cur.mode & 0o7777n) !== (st.mode & 0o7777n)) await fsp.chmod(dir, Number(st.mode & 0o7777n));
  await fsp.lutimes(dir, Number(st.atimeNs) / 1e9, Number(st.mtimeNs) / 1e9);
}

/** One run of an unpack child: the layer applied onto opts.root, nothing undone. */
function unpack(opts: ApplyOptions): Promise<Applied> {
  return runUnpack({
    root: opts.root,
    mode: opts.mode,
    compression: compressionOf(opts.mediaType),
    blob: opts.blob,
    parents: opts.parents,
    onSpawn: opts.onSpawn,
  });
}
