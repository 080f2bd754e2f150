import { constants, type Stats } from 'node:fs';
import { type FileHandle, lchown, link, lstat, lutimes, mkdir, open, readdir, readlink, rm, symlink } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { invalidArgument } from '../../core/errors.ts';
import { resolveInRoot } from '../../core/spec/user.ts';
import { lgetxattr, llistxattr, lsetxattr } from '../../native/index.ts';

/**
 * Copy-up: the first time a volume is mounted where the image has content, that content is
 * copied into the (empty) volume, as Docker's and nerdctl's local driver do. The image is not
 * trusted (the CVE-2022-23648 class): the path is resolved inside the root file system only, and
 * the copy never follows a symlink, so nothing outside the image is read and nothing outside the
 * volume is written. Copied: directories, regular files (hard links kept), symlinks (as links,
 * their targets verbatim), modes with setuid/setgid/sticky, owners, times and extended
 * attributes. Device nodes, FIFOs and sockets are skipped: an image must not get a device into a
 * volume that outlives it.
 */

export interface CopyUpResult {
  /** false: nothing was copied (see reason) */
  copied: boolean;
  reason?: string;
  /** paths (relative to the volume) of what was not copied: device nodes, FIFOs, sockets */
  skipped: string[];
}

const readOnly = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;
const directory = readOnly | constants.O_DIRECTORY;
const newFile = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
const chunk = 1 << 20;
const zeros = Buffer.alloc(chunk);

const isZero = (buf: Buffer, n: number) => buf.compare(zeros, 0, n, 0, n) === 0;

const codeOf = (err: unknown) => (err as NodeJS.ErrnoException).code;

/**
 * Copies what the image holds at `containerPath` (resolved inside `rootfs`, the container's root
 * file system, best mounted read-only) into the volume's data directory `dataDir`, unless the
 * volume already holds something. Call it after the rootfs is prepared and before the task is
 * created. A failure part way leaves the volume empty again, so the next use tries afresh.
 */
export async function copyUp(rootfs: string, containerPath: string, dataDir: string): Promise<CopyUpResult> {
  const dataStat = await lstat(dataDir);
  if (!dataStat.isDirectory()) throw new Error(`volume data directory ${dataDir} is not a directory`);
  if ((await readdir(dataDir)).length > 0) return { copied: false, reason: 'the volume already holds data', skipped: [] };

  let source: string;
  try {
    source = resolveInRoot(rootfs, containerPath);
  } catch (err) {
    throw invalidArgument(`cannot copy the image's ${containerPath} into a volume: ${(err as Error).message}`);
  }
  const inside = relative(rootfs, source);
  if (inside.startsWith(`..${sep}`) || inside === '..') throw new Error(`${containerPath} resolved outside the root file system`);
  if (inside === '') throw invalidArgument(`a volume cannot be mounted at ${containerPath}: it is the container's root`);
  let st: Stats;
  try {
    st = await lstat(source);
  } catch (err) {
    if (codeOf(err) === 'ENOENT' || codeOf(err) === 'ENOTDIR') return { copied: false, reason: `the image has nothing at ${containerPath}`, skipped: [] };
    throw err;
  }
  if (!st.isDirectory()) return { copied: false, reason: `${containerPath} in the image is not a directory`, skipped: [] };

  const copier = new Copier(dataDir);
  try {
    await copier.directory(source, dataDir, st, true);
  } catch (err) {
    await emptyDir(dataDir).catch(() => undefined);
    throw err;
  }
  return { copied: true, skipped: copier.skipped };
}

/** Removes everything inside dir (not dir itself); rm never follows a symlink it removes. */
async function emptyDir(dir: string): Promise<void> {
  for (const name of await readdir(dir)) await rm(join(dir, name), { recursive: true, force: true });
}

class Copier {
  readonly skipped: string[] = [];
  /** the first copy of each multiply linked file, by device and inode, to link the others to */
  private readonly links = new Map<string, string>();

  constructor(private readonly volume: string) {}

  /** Copies the entries of the directory src into dst (made already when `existing`). */
  async directory(src: string, dst: string, st: Stats, existing = false): Promise<void> {
    if (!existing) await mkdir(dst, { mode: 0o700 });
    const handle = await open(src, directory);
    try {
      // the directory open is the one whose inode lstat saw: a swap since is not followed
      const now = await handle.stat();
      if (now.ino !== st.ino || now.dev !== st.dev) throw new Error(`${src} changed while it was copied`);
      const names = await readdir(src);
      for (const name of names.sort()) await this.entry(join(src, name), join(dst, name));
    } finally {
      await handle.close();
    }
    const out = await open(dst, directory);
    try {
      await applyOwnerAndMode(out, st);
      copyXattrs(src, dst);
      await out.utimes(st.atime, st.mtime);
    } finally {
      await out.close();
    }
  }

  private async entry(src: string, dst: string): Promise<void> {
    const st = await lstat(src);
    if (st.isDirectory()) return this.directory(src, dst, st);
    if (st.isSymbolicLink()) return this.symlink(src, dst, st);
    if (st.isFile()) return this.file(src, dst, st);
    this.skipped.push(relative(this.volume, dst));
  }

  private async symlink(src: string, dst: string, st: Stats): Promise<void> {
    await symlink(await readlink(src), dst);
    await lchown(dst, st.uid, st.gid).catch(ignoreIdErrors);
    copyXattrs(src, dst);
    await lutimes(dst, st.atime, st.mtime);
  }

  private async file(src: string, dst: string, st: Stats): Promise<void> {
    const key = `${st.dev}:${st.ino}`;
    const first = st.nlink > 1 ? this.links.get(key) : undefined;
    if (first !== undefined) {
      await link(first, dst);
      return;
    }
    const input = await open(src, readOnly);
    try {
      const now = await input.stat();
      if (!now.isFile() || now.ino !== st.ino || now.dev !== st.dev) throw new Error(`${src} changed while it was copied`);
      const output = await open(dst, newFile, 0o600);
      try {
        const buf = Buffer.allocUnsafe(Math.min(chunk, Math.max(now.size, 1)));
        let at = 0;
        for (;;) {
          const { bytesRead } = await input.read(buf, 0, buf.length, at);
          if (bytesRead === 0) break;
          // a block of zeros stays a hole: a sparse file in the image stays sparse in the volume
          if (!isZero(buf, bytesRead)) {
            for (let done = 0; done < bytesRead; ) done += (await output.write(buf, done, bytesRead - done, at + done)).bytesWritten;
          }
          at += bytesRead;
        }
        await output.truncate(at);
        await applyOwnerAndMode(output, st);
        copyXattrs(src, dst);
        await output.utimes(st.atime, st.mtime);
      } finally {
        await output.close();
      }
    } finally {
      await input.close();
    }
    if (st.nlink > 1) this.links.set(key, dst);
  }
}

/** Owner first: chown clears setuid and setgid, which chmod then sets again. */
async function applyOwnerAndMode(handle: FileHandle, st: Stats): Promise<void> {
  await handle.chown(st.uid, st.gid).catch(ignoreIdErrors);
  await handle.chmod(st.mode & 0o7777);
}

/** An id the filesystem or user namespace cannot hold leaves root's: the copy goes on. */
function ignoreIdErrors(err: unknown): void {
  if (codeOf(err) !== 'EINVAL' && codeOf(err) !== 'EPERM') throw err;
}

/**
 * Extended attributes, where the filesystem keeps them (security.capability above all). SELinux
 * labels belong to the host's policy, and overlay's own attributes to the snapshot: neither is copied.
 */
function copyXattrs(src: string, dst: string): void {
  let names: string[];
  try {
    names = llistxattr(src);
  } catch {
    return;
  }
  for (const name of names) {
    if (name === 'security.selinux' || name.startsWith('trusted.overlay.')) continue;
    try {
      const value = lgetxattr(src, name);
      if (value !== null) lsetxattr(dst, name, value);
    } catch (err) {
      // a namespace the volume's filesystem does not take (e.g. user.* on a symlink)
      if (codeOf(err) !== 'EPERM' && codeOf(err) !== 'ENOTSUP' && codeOf(err) !== 'EOPNOTSUPP') throw err;
    }
  }
}
