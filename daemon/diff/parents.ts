import * as fs from 'node:fs';
import { posix } from 'node:path';
import * as native from '../../native/index.ts';

/**
 * The overlay fast path's "parents" (containerd's archive.WithParents): a directory that the
 * layer needs but the upperdir lacks is created with the mode, owner, times and xattrs of the
 * first lowerdir that has it. The unpack child cannot see the lowerdirs (it is chroot'ed into the
 * upperdir), so it asks the daemon, which answers from here.
 */
export interface DirInfo {
  mode: number;
  uid: number;
  gid: number;
  /** seconds */
  mtime: number;
  /** [name, base64 value]; overlay's own trusted.overlay.* are not copied */
  xattrs: Array<[string, string]>;
}

/**
 * `rel` resolved inside `root` (containerd's fs.RootPath): symlinks are followed, absolute ones
 * from root, and `..` stops at root. Returns a path under root (which may not exist).
 */
export function rootPath(root: string, rel: string, depth = 0): string {
  if (depth > 40) throw Object.assign(new Error(`too many levels of symbolic links resolving ${rel}`), { code: 'ELOOP' });
  let cur = '/';
  for (const part of rel.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      cur = posix.dirname(cur);
      continue;
    }
    const next = posix.join(cur, part);
    const st = fs.lstatSync(root + next, { throwIfNoEntry: false });
    if (st?.isSymbolicLink()) {
      const target = fs.readlinkSync(root + next);
      cur = rootPath(root, target.startsWith('/') ? target : posix.join(cur, target), depth + 1).slice(root.length) || '/';
    } else {
      cur = next;
    }
  }
  return cur === '/' ? root : root + cur;
}

/** The directory info for `rel` from the first lower that has it; null when none has a directory. */
export function parentInfo(lowers: readonly string[], rel: string): DirInfo | null {
  for (const lower of lowers) {
    const path = rootPath(lower, rel);
    const st = fs.lstatSync(path, { throwIfNoEntry: false });
    if (!st) continue;
    if (!st.isDirectory()) return null; // replaced in that layer: no attributes to copy
    const xattrs: Array<[string, string]> = [];
    for (const name of native.llistxattr(path)) {
      if (name.startsWith('trusted.overlay.')) continue;
      const v = native.lgetxattr(path, name);
      if (v !== null) xattrs.push([name, v.toString('base64')]);
    }
    return { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtimeMs / 1000, xattrs };
  }
  return null;
}
