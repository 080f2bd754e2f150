import { spawn } from 'node:child_process';
import { promises as fs, mkdtempSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { BerthError } from '../core/errors.ts';
import type { Mount } from '../core/mount.ts';
import { MS_NOATIME, MS_NODEV, MS_NODIRATIME, MS_NOEXEC, MS_NOSUID, MS_RDONLY, MS_RELATIME, MS_STRICTATIME, mount, umount2 } from './index.ts';

/**
 * Mounting what a snapshotter returns. Shared by the daemon (snapshots, diffs), the shim
 * (container rootfs) and the CLI. An overlay whose options are plain (the usual case) is mounted
 * with mount(2) through the native addon, and everything is unmounted with umount2(2): each
 * /bin/mount or /bin/umount process would cost milliseconds on the path of every container
 * start. Other mounts go through util-linux's mount(8) (argv arrays, never a shell), which knows
 * every option.
 */

// mount(2) copies at most one page of option data; containerd compacts the overlay options once
// they come within 512 bytes of it (mount/mount_linux.go), and so do we.
const pageSize = 4096;
const compactAt = pageSize - 512;

/** Mounts each mount on target in order (later ones stack on earlier ones). */
export async function mountAll(mounts: readonly Mount[], target: string): Promise<void> {
  target = resolve(target);
  let mounted = 0;
  try {
    for (const m of mounts) {
      await mountOne(m, target);
      mounted++;
    }
  } catch (err) {
    // leave nothing half-mounted behind
    for (; mounted > 0; mounted--) {
      try {
        umount2(target);
      } catch {
        // not mounted after all
      }
    }
    throw err;
  }
}

async function mountOne(m: Mount, target: string): Promise<void> {
  const direct = directOverlay(m);
  if (direct) {
    try {
      mount('overlay', target, 'overlay', direct.flags, direct.data);
    } catch (err) {
      throw new BerthError('Internal', `mount overlay on ${target}: ${(err as Error).message}`);
    }
    return;
  }
  let options = [...m.options];
  let cwd: string | undefined;
  if (m.type === 'overlay' && options.join(',').length >= compactAt) ({ cwd, options } = compactLowerdir(options));
  const data = options.join(',');
  if (data.length >= pageSize) throw new BerthError('InvalidArgument', `mount options are too long (${data.length} bytes, at most ${pageSize - 1})`);
  const args = ['-t', m.type];
  if (data !== '') args.push('-o', data);
  args.push(m.source, target);
  await run('/bin/mount', args, cwd);
}

// Flag words mount(8) turns into mount(2) flags: [set, clear].
const flagWords: Record<string, [number, number]> = {
  ro: [MS_RDONLY, 0],
  rw: [0, MS_RDONLY],
  nosuid: [MS_NOSUID, 0],
  suid: [0, MS_NOSUID],
  nodev: [MS_NODEV, 0],
  dev: [0, MS_NODEV],
  noexec: [MS_NOEXEC, 0],
  exec: [0, MS_NOEXEC],
  noatime: [MS_NOATIME, 0],
  atime: [0, MS_NOATIME],
  nodiratime: [MS_NODIRATIME, 0],
  diratime: [0, MS_NODIRATIME],
  relatime: [MS_RELATIME, 0],
  norelatime: [0, MS_RELATIME],
  strictatime: [MS_STRICTATIME, 0],
  nostrictatime: [0, MS_STRICTATIME],
  defaults: [0, 0],
};

// overlayfs's own options that take no value
const overlayWords = new Set(['userxattr', 'volatile']);

/**
 * The flags and data for mounting an overlay with mount(2) directly, when its options are flag
 * words, `key=value` options and overlayfs's bare words only, and short enough not to need
 * relative lowerdirs (mount(8) does those from another working directory); undefined otherwise.
 */
export function directOverlay(m: Mount): { flags: number; data: string } | undefined {
  if (m.type !== 'overlay' || m.source !== 'overlay') return undefined;
  let flags = 0;
  const data: string[] = [];
  for (const o of m.options) {
    const word = flagWords[o];
    if (word) flags = (flags | word[0]) & ~word[1];
    else if (/^[a-z_]+=[^,]*$/.test(o) || overlayWords.has(o)) data.push(o);
    else return undefined;
  }
  const joined = data.join(',');
  return joined.length < compactAt ? { flags, data: joined } : undefined;
}

/**
 * Rewrites an overlay `lowerdir=` list relative to the lowerdirs' deepest common ancestor, which
 * becomes the working directory of mount(8): the kernel resolves relative lowerdirs against the
 * cwd of the mounting process. `/r/snapshots/1/fs:/r/snapshots/2/fs` becomes `1/fs:2/fs` in
 * `/r/snapshots`. Options are left alone when there is nothing to gain.
 */
export function compactLowerdir(options: readonly string[]): { cwd?: string; options: string[] } {
  const at = options.findIndex((o) => o.startsWith('lowerdir='));
  if (at < 0) return { options: [...options] };
  const dirs = options[at]!.slice('lowerdir='.length).split(':');
  if (dirs.length < 2 || !dirs.every((d) => d.startsWith('/'))) return { options: [...options] };
  // the common ancestor of the lowerdirs' parents, so that it is a proper ancestor of each
  const common = dirs.map((d) => dirname(d).split(sep)).reduce((a, b) => a.slice(0, commonLength(a, b)));
  const cwd = common.join(sep) || sep;
  if (cwd === sep) return { options: [...options] };
  const lower = `lowerdir=${dirs.map((d) => relative(cwd, d)).join(':')}`;
  // containerd moves lowerdir to the end; the kernel does not care about the order
  return { cwd, options: [...options.slice(0, at), ...options.slice(at + 1), lower] };
}

function commonLength(a: readonly string[], b: readonly string[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/** Unmounts everything mounted on target, top first, until it is no longer a mount point. */
export async function unmountAll(target: string): Promise<void> {
  const path = await fs.realpath(target).catch(() => undefined);
  if (path === undefined) return;
  // umount2 says EINVAL once nothing is mounted there any more; a busy mount (a process still
  // inside) is retried for a while, as containerd does
  for (let attempt = 0; ; ) {
    try {
      umount2(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EINVAL' || code === 'ENOENT') return;
      if (code !== 'EBUSY' || ++attempt > 50) throw new BerthError('Internal', `unmount ${path}: ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Whether something is mounted on path (an absolute, symlink-free path). */
export async function isMountPoint(path: string): Promise<boolean> {
  const info = await fs.readFile('/proc/self/mountinfo', 'utf8');
  for (const line of info.split('\n')) {
    // fields: id parent major:minor root mount-point options ...; spaces etc. are octal escapes
    const point = line.split(' ')[4];
    if (point !== undefined && unescapeOctal(point) === path) return true;
  }
  return false;
}

const unescapeOctal = (s: string) => s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));

function run(bin: string, args: string[], cwd?: string): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(bin, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', (err) => reject(new BerthError('Internal', `${bin}: ${err.message}`)));
    child.once('close', (code, signal) => {
      if (code === 0) return resolvePromise();
      const why = stderr.trim() || (signal ? `killed by ${signal}` : `exit status ${code}`);
      reject(new BerthError('Internal', `${bin} ${args.join(' ')}${cwd ? ` (in ${cwd})` : ''}: ${why}`));
    });
  });
}

/**
 * Mounts a snapshot's mounts read-only on a private temp dir, runs fn on it, and unmounts (as
 * containerd's mount.WithTempMount with tryReadonlyMounts). The dir is only removed with rmdir:
 * if unmounting failed, nothing under it is deleted.
 */
export async function withReadOnlyMounts<T>(mounts: readonly Mount[], fn: (root: string) => T | Promise<T>): Promise<T> {
  const base = process.env.XDG_RUNTIME_DIR || tmpdir();
  const dir = mkdtempSync(join(base, 'berth-rootfs-'));
  try {
    const ro = mounts.map((m) => {
      if (m.type === 'overlay') return { ...m, options: [...m.options, 'ro'] };
      if (m.type === 'bind' || m.options.includes('bind') || m.options.includes('rbind'))
        return { ...m, options: [...m.options.filter((o) => o !== 'rw' && o !== 'ro'), 'ro'] };
      return m;
    });
    await mountAll(ro, dir);
    try {
      return await fn(dir);
    } finally {
      await unmountAll(dir);
    }
  } finally {
    try {
      rmdirSync(dir);
    } catch {
      // still mounted or not empty: leave it rather than delete what is under it
    }
  }
}
