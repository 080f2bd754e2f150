import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { lgetxattr, llistxattr } from '../../../native/index.ts';

/**
 * A comparable description of a directory tree: one line per path with type, mode, owner,
 * mtime (whole seconds: layers carry no more), size, content hash, link target, device
 * numbers and xattrs, plus which paths share an inode.
 */
export function describeTree(root: string, skipXattr = (_: string) => false): string[] {
  const lines: string[] = [];
  const inodes = new Map<string, string[]>();
  const walk = (dir: string, rel: string) => {
    for (const n of fs.readdirSync(dir).sort()) {
      const p = join(dir, n);
      const r = `${rel}/${n}`;
      const st = fs.lstatSync(p, { bigint: true });
      const type = st.isFile()
        ? 'f'
        : st.isDirectory()
          ? 'd'
          : st.isSymbolicLink()
            ? 'l'
            : st.isCharacterDevice()
              ? 'c'
              : st.isBlockDevice()
                ? 'b'
                : st.isFIFO()
                  ? 'p'
                  : 's';
      let extra = '';
      if (st.isFile()) extra = createHash('sha256').update(fs.readFileSync(p)).digest('hex').slice(0, 16);
      if (st.isSymbolicLink()) extra = fs.readlinkSync(p);
      if (st.isCharacterDevice() || st.isBlockDevice()) extra = `rdev=${st.rdev}`;
      const xattrs = llistxattr(p)
        .filter((x) => !skipXattr(x))
        .sort()
        .map((x) => `${x}=${lgetxattr(p, x)?.toString('hex')}`);
      lines.push(
        `${r} ${type} ${(st.mode & 0o7777n).toString(8)} ${st.uid}:${st.gid} t=${st.mtimeNs / 1_000_000_000n} ${type === 'd' ? '' : st.size} ${extra} ${xattrs.join(',')}`,
      );
      if (!st.isDirectory() && st.nlink > 1n) {
        const key = `${st.dev}:${st.ino}`;
        inodes.set(key, [...(inodes.get(key) ?? []), r]);
      }
      if (st.isDirectory()) walk(p, r);
    }
  };
  walk(root, '');
  for (const group of inodes.values()) if (group.length > 1) lines.push(`hardlinks ${group.sort().join(' ')}`);
  return lines.sort();
}

/** cp -a, keeping xattrs, hardlinks and devices. */
export function copyTree(from: string, to: string) {
  const r = spawnSync('cp', ['-a', '--preserve=all', `${from}/.`, to], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cp: ${r.stderr}`);
}

export function sh(script: string, cwd: string) {
  const r = spawnSync('/bin/sh', ['-ec', script], { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`sh: ${r.stderr}`);
}
