import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { dirname, relative, resolve, sep } from 'node:path';
import { BerthError } from '../proto/errors.ts';

/**
 * Mounting what a snapshotter returns, with util-linux's mount(8) and umount(8) (argv arrays,
 * never a shell). Shared by the daemon (start-up checks, tests) and the shim (container rootfs).
 */
export interface Mount {
  /** e.g. "overlay", "bind" */
  type: string;
  /** e.g. "overlay", or the directory to bind */
  source: string;
  /** e.g. ["ro", "rbind"] or ["workdir=…", "upperdir=…", "lowerdir=a:b"] */
  options: readonly string[];
}

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
    for (; mounted > 0; mounted--) await run('/bin/umount', [target]).catch(() => undefined);
    throw err;
  }
}

async function mountOne(m: Mount, target: string): Promise<void> {
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
  // a busy mount (a process still inside) is retried for a while, as containerd does
  for (let attempt = 0; await isMountPoint(path); attempt++) {
    try {
      await run('/bin/umount', [path]);
    } catch (err) {
      if (attempt >= 50) throw err;
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
