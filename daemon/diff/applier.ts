import * as fs from 'node:fs';
import { posix } from 'node:path';
import { invalidArchive, type TarEntry, type TarSink } from '../../core/archive/tar.ts';
import { BerthError } from '../../core/errors.ts';
import * as native from '../../native/index.ts';
import type { DirInfo } from './parents.ts';

/**
 * Applies tar entries to the filesystem with containerd's applyNaive semantics. It runs in the
 * unpack child after chroot() into the target, so every path is resolved by the kernel inside
 * the target: absolute symlinks count from the target's root and `..` stops there. Everything is
 * synchronous, so entries are applied strictly one after another.
 *
 * mode 'plain': whiteouts remove (`.wh.NAME`) or empty (`.wh..wh..opq`) in place.
 * mode 'overlay': the target is an overlay upperdir: whiteouts become overlay's own format (a
 * 0/0 character device; `trusted.overlay.opaque=y` on the directory).
 */
export type ApplyMode = 'plain' | 'overlay';

const whPrefix = '.wh.';

/** containerd's boundTime: a time before the epoch or past what nanoseconds in an int64 hold is the epoch. */
const boundTime = (t: number) => (t < 0 || t > 9_223_372_036.854774 ? 0 : t);
const whOpaque = '.wh..wh..opq';

export interface ApplyWarning {
  entry: string;
  message: string;
}

export class Applier implements TarSink {
  /** paths (cleaned, absolute inside the root) written by this layer, for opaque handling */
  private readonly unpacked = new Set<string>();
  /** directory times, set after all entries (later entries would change them) */
  private readonly dirTimes: Array<{ path: string; mtime: number }> = [];
  /** overlay mode: directories created only because an entry needed them, to copy the lowers' attributes onto */
  private readonly implicit = new Set<string>();
  private file: { fd: number; entry: TarEntry; path: string } | undefined;
  private current: TarEntry | undefined;
  private currentPath = '';
  readonly warnings: ApplyWarning[] = [];

  constructor(
    private readonly mode: ApplyMode,
    /**
     * overlay mode: the attributes of directories the upperdir lacked, from the lowerdirs. Asked
     * once, after the last entry, so that the lowers may still be being written while this
     * layer applies (the pull applies layers side by side).
     */
    private readonly parentInfos?: (paths: string[]) => Array<DirInfo | null>,
  ) {}

  /** Creates the missing directories of dir; in overlay mode they get the lowers' attributes at the end. */
  private ensureDir(dir: string) {
    ensureDir(dir, this.parentInfos && ((path) => this.implicit.add(path)));
  }

  /** Removes what is at path; implicit directories at or under it are gone with it. */
  private remove(path: string) {
    fs.rmSync(path, { recursive: true, force: true });
    for (const p of this.implicit) if (p === path || p.startsWith(`${path}/`)) this.implicit.delete(p);
  }

  /** The implicit directories still there take the attributes of the lowers' directories. */
  private copyParents() {
    const paths = [...this.implicit];
    if (paths.length === 0) return;
    const infos = this.parentInfos!(paths);
    for (const [i, path] of paths.entries()) {
      const info = infos[i];
      if (!info || !lstat(path)?.isDirectory()) continue;
      fs.lchownSync(path, info.uid, info.gid);
      for (const [name, value] of info.xattrs) native.lsetxattr(path, name, Buffer.from(value, 'base64'));
      fs.chmodSync(path, info.mode);
      this.dirTimes.push({ path, mtime: info.mtime });
    }
  }

  entry(e: TarEntry): void {
    this.current = e;
    this.file = undefined;
    try {
      this.begin(e);
    } catch (err) {
      throw this.wrap(err);
    }
  }

  data(chunk: Buffer): void {
    if (!this.file) return;
    try {
      for (let off = 0; off < chunk.length; ) off += fs.writeSync(this.file.fd, chunk, off, chunk.length - off);
    } catch (err) {
      throw this.wrap(err);
    }
  }

  end(): void {
    const e = this.current;
    if (!e) return;
    try {
      if (this.file) {
        const { fd } = this.file;
        this.file = undefined;
        try {
          // a regular file we just created: its metadata goes through the descriptor
          this.fileMetadata(e, fd);
        } finally {
          fs.closeSync(fd);
        }
      } else if (this.currentPath !== '') {
        this.metadata(e, this.currentPath);
      }
    } catch (err) {
      throw this.wrap(err);
    } finally {
      this.current = undefined;
      this.currentPath = '';
    }
  }

  /** After the last entry: the implicit directories' attributes, then directory times. */
  finish(): void {
    if (this.parentInfos) this.copyParents();
    for (const { path, mtime } of this.dirTimes.reverse()) {
      try {
        fs.lutimesSync(path, mtime, mtime);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
  }

  private wrap(err: unknown): Error {
    const name = this.current?.name;
    if (err instanceof BerthError) return err;
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOSPC' || e.code === 'EDQUOT' || e.code === 'EIO' || e.code === 'EROFS') {
      return new BerthError(
        e.code === 'EIO' || e.code === 'EROFS' ? 'Unknown' : 'ResourceExhausted',
        `failed to apply entry ${JSON.stringify(name)}: ${e.message}`,
      );
    }
    const out = invalidArchive(`${e.syscall ?? 'apply'}: ${e.code ?? e.message}${e.code ? ` (${e.message})` : ''}`, name) as Error & { errno?: string };
    out.errno = e.code;
    return out;
  }

  private begin(e: TarEntry) {
    const path = clean(e.name);
    if (path === '/') return; // containerd: "resolved to root", ignored
    const dir = posix.dirname(path);
    const base = posix.basename(path);
    if (base.startsWith(whPrefix)) {
      this.whiteout(e, dir, base);
      return;
    }
    this.ensureDir(dir);
    const existing = lstat(path);
    if (existing && !(existing.isDirectory() && e.type === 'dir')) this.remove(path);
    this.implicit.delete(path); // an entry of its own: its attributes are the entry's
    switch (e.type) {
      case 'dir':
        if (!existing?.isDirectory()) fs.mkdirSync(path, { mode: e.mode & 0o777 });
        break;
      case 'file':
        this.file = {
          fd: fs.openSync(path, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600),
          entry: e,
          path,
        };
        break;
      case 'symlink':
        fs.symlinkSync(e.linkname, path); // verbatim: resolved later, inside the container
        break;
      case 'link': {
        const target = clean(e.linkname);
        if (target === '/') throw invalidArchive('hardlink to the root', e.name);
        fs.linkSync(target, path); // link(2) does not follow a final symlink
        break;
      }
      case 'char':
        native.mknod(path, native.S_IFCHR | (e.mode & 0o777), e.devmajor, e.devminor);
        break;
      case 'block':
        native.mknod(path, native.S_IFBLK | (e.mode & 0o777), e.devmajor, e.devminor);
        break;
      case 'fifo':
        native.mknod(path, native.S_IFIFO | (e.mode & 0o777), 0, 0);
        break;
    }
    this.unpacked.add(path);
    this.currentPath = path;
  }

  private fileMetadata(e: TarEntry, fd: number) {
    fs.fchownSync(fd, e.uid, e.gid);
    this.xattrs(e, this.currentPath);
    fs.fchmodSync(fd, e.mode & 0o7777);
    const t = boundTime(e.mtime);
    fs.futimesSync(fd, t, t);
  }

  /** Owner, xattrs, mode (after chown, which clears setuid), times. Never through a symlink. */
  private metadata(e: TarEntry, path: string) {
    fs.lchownSync(path, e.uid, e.gid);
    this.xattrs(e, path);
    const st = e.type === 'symlink' || e.type === 'link' ? fs.lstatSync(path) : undefined;
    if (!st?.isSymbolicLink()) {
      // a hardlink takes the header's mode too (containerd), but never a symlink's target's
      fs.chmodSync(path, e.mode & 0o7777);
    }
    const t = boundTime(e.mtime);
    if (e.type === 'dir') this.dirTimes.push({ path, mtime: t });
    else fs.lutimesSync(path, t, t);
  }

  private xattrs(e: TarEntry, path: string) {
    for (const [name, value] of e.xattrs) {
      if (name.startsWith('trusted.')) {
        this.warnings.push({ entry: e.name, message: `xattr ${name} ignored: trusted.* attributes from archives are not supported` });
        continue;
      }
      try {
        native.lsetxattr(path, name, value);
      } catch (err) {
        // as containerd: unsupported attributes, and user.* on what cannot carry them, are skipped
        const code = (err as NodeJS.ErrnoException).code;
        const st = fs.lstatSync(path);
        if (code === 'ENOTSUP' || code === 'EOPNOTSUPP' || (code === 'EPERM' && name.startsWith('user.') && !st.isFile() && !st.isDirectory())) {
          this.warnings.push({ entry: e.name, message: `xattr ${name} ignored: ${code}` });
          continue;
        }
        throw err;
      }
    }
  }

  private whiteout(e: TarEntry, dir: string, base: string) {
    if (base === whOpaque) {
      if (this.mode === 'overlay') {
        this.ensureDir(dir);
        native.lsetxattr(dir, 'trusted.overlay.opaque', 'y');
      } else {
        this.emptyExcept(dir);
      }
      return;
    }
    const name = base.slice(whPrefix.length);
    if (name === '' || name === '.' || name === '..' || name.includes('/')) throw invalidArchive('invalid whiteout name', e.name);
    const target = posix.join(dir, name);
    if (this.mode === 'overlay') {
      this.ensureDir(dir);
      if (lstat(target)) this.remove(target);
      native.mknod(target, native.S_IFCHR, 0, 0);
      fs.lchownSync(target, e.uid, e.gid);
      return;
    }
    // a dangling or missing parent makes this a no-op
    try {
      fs.rmSync(target, { recursive: true, force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOTDIR') throw err;
    }
  }

  /** Opaque directory, plain mode: remove everything under dir not written by this layer. */
  private emptyExcept(dir: string) {
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return;
      throw err;
    }
    for (const n of names) {
      const p = posix.join(dir, n);
      if (!this.unpacked.has(p)) fs.rmSync(p, { recursive: true, force: true });
      else if (lstat(p)?.isDirectory()) this.emptyExcept(p);
    }
  }
}

/** The entry name as an absolute path inside the root: leading slashes and `..` are clamped. */
export function clean(name: string): string {
  const p = posix.normalize(`/${name}`);
  return p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p;
}

function lstat(path: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Creates a missing parent directory (0755, as containerd does). Symlinks on the way are
 * followed, a dangling one by creating its target (containerd resolves it the same way); the
 * chroot keeps all of it inside the target.
 */
function ensureDir(dir: string, created?: (path: string) => void, depth = 0): void {
  if (depth > 40) throw Object.assign(new Error(`too many levels of symbolic links: ${dir}`), { code: 'ELOOP', syscall: 'mkdir' });
  if (depth === 0 && fs.statSync(dir, { throwIfNoEntry: false })) return; // the common case
  let cur = '/';
  for (const part of dir.split('/')) {
    if (part === '') continue;
    const next = posix.join(cur, part);
    cur = next;
    try {
      fs.statSync(next);
      continue;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (lstat(next)?.isSymbolicLink()) {
      ensureDir(clean(posix.resolve(posix.dirname(next), fs.readlinkSync(next))), created, depth + 1);
    } else {
      fs.mkdirSync(next, { mode: 0o755 });
      created?.(next);
    }
  }
}
