import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Usage } from '../snapshots/snapshotter.ts';
import { childFailure, maxReport, type Tree } from './compare.ts';
import { helperEntry } from './unpacker.ts';

/**
 * containerd's fs.DiskUsage of a snapshot directory: every inode under it (itself included)
 * counted once, however many hard links it has, with the blocks it has allocated.
 *
 * The directory may be the upper directory of a running container, which can swap one of its
 * directories for a symlink to anywhere while it is measured. So it is measured by a child
 * process (usage-child.ts) that reads it as its root, as the differ reads trees (compare.ts
 * Tree): a swapped-in symlink resolves inside the tree, and the sync walk of a big tree never
 * holds up the daemon.
 */
export async function treeUsage(dir: string): Promise<Usage> {
  const child = spawn(process.execPath, [helperEntry('usage-child.js'), dir], { stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
  const closed = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
    child.once('error', () => resolve([null, null]));
    child.once('close', (code, signal) => resolve([code, signal]));
  });
  let stdout = '';
  let stderr = '';
  let report = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout = (stdout + d).slice(0, maxReport)));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-maxReport)));
  (child.stdio[3] as Readable).setEncoding('utf8').on('data', (d: string) => (report = (report + d).slice(0, maxReport)));
  const [code, signal] = await closed;
  if (code !== 0) throw childFailure('usage', report, stderr, code, signal);
  return JSON.parse(stdout) as Usage;
}

/** Errors of a path that went away or changed into something else while the walk reached it. */
const vanished = new Set(['ENOENT', 'ENOTDIR', 'ELOOP']);

function unlessVanished<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch (err) {
    if (vanished.has((err as NodeJS.ErrnoException).code ?? '')) return undefined;
    throw err;
  }
}

/**
 * The usage of a tree, read in this process (the usage child). A directory is walked once: a
 * path swapped meanwhile for a symlink to a directory seen already, even the root, leads nowhere new.
 */
export function walkUsage(tree: Tree): Usage {
  const seen = new Set<string>();
  let size = 0;
  const pending = ['/'];
  while (pending.length > 0) {
    const path = pending.pop()!;
    const st = unlessVanished(() => tree.lstat(path));
    if (!st) continue;
    const id = `${st.dev}:${st.ino}`;
    if (seen.has(id)) continue;
    seen.add(id);
    size += Number(st.blocks) * 512;
    if (!st.isDirectory()) continue;
    for (const name of unlessVanished(() => tree.names(path)) ?? []) pending.push(join(path, name));
  }
  return { size, inodes: seen.size };
}
