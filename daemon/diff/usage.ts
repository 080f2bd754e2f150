import { type ChildProcess, spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { BerthError } from '../../core/errors.ts';
import { Limiter } from '../../core/mutex.ts';
import type { Usage } from '../snapshots/snapshotter.ts';
import { type CompareFailure, childFailure, maxReport, type Tree } from './compare.ts';
import { helperEntry } from './unpacker.ts';

/**
 * containerd's fs.DiskUsage of a snapshot directory: every inode under it (itself included)
 * counted once, however many hard links it has, with the blocks it has allocated.
 *
 * The directory may be the upper directory of a running container, which can swap one of its
 * directories for a symlink to anywhere while it is measured. So it is measured by a child
 * process (usage-child.ts) that reads it as its root, as the differ reads trees (compare.ts
 * Tree): a swapped-in symlink resolves inside the tree, and the sync walk of a big tree never
 * holds up the daemon. Children are kept between measures (a commit of every pulled layer
 * measures one), one per measure in flight, at most one per core, and leave after a while unused.
 */
export function treeUsage(dir: string): Promise<Usage> {
  return usageSlots.run(async () => {
    const child = idle.pop() ?? new UsageChild();
    try {
      return await child.measure(dir);
    } finally {
      child.release();
    }
  });
}

/** Measures at a time: a flood of Usage calls waits for these, never starts a process each. */
const usageSlots = new Limiter(availableParallelism());

const idle: UsageChild[] = [];
let idleMs = 15_000;

/** How long a child stays unused before it leaves (tests shorten it). */
export function setUsageChildIdleMs(ms: number): void {
  idleMs = ms;
}

class UsageChild {
  private readonly process: ChildProcess;
  private readonly answers: Array<{ resolve: (line: string) => void; reject: (err: Error) => void }> = [];
  private stderr = '';
  private exited: Error | undefined;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor() {
    this.process = spawn(process.execPath, [helperEntry('usage-child.js')], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.process.stdin!.on('error', () => {});
    this.process.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr = (this.stderr + d).slice(-maxReport)));
    createInterface({ input: this.process.stdout! }).on('line', (line) => this.answers.shift()?.resolve(line));
    this.process.once('error', (err) => this.exit(err));
    this.process.once('close', (code, signal) => this.exit(childFailure('usage', '', this.stderr, code, signal)));
  }

  private exit(err: Error): void {
    this.exited ??= err;
    const at = idle.indexOf(this);
    if (at >= 0) idle.splice(at, 1);
    clearTimeout(this.idleTimer);
    for (const a of this.answers.splice(0)) a.reject(err);
  }

  async measure(dir: string): Promise<Usage> {
    if (this.exited) throw this.exited;
    clearTimeout(this.idleTimer);
    this.hold(true);
    const line = await new Promise<string>((resolve, reject) => {
      this.answers.push({ resolve, reject });
      this.process.stdin!.write(`${JSON.stringify(dir)}\n`);
    });
    const answer = JSON.parse(line) as Usage | CompareFailure;
    if ('error' in answer) throw new BerthError(answer.code ?? 'Unknown', answer.error);
    return answer;
  }

  release(): void {
    if (this.exited) return;
    idle.push(this);
    this.idleTimer = setTimeout(() => this.leave(), idleMs).unref();
    this.hold(false);
  }

  /** Out of the idle list first, then stdin's end: a child on its way out is never handed a measure. */
  private leave(): void {
    const at = idle.indexOf(this);
    if (at >= 0) idle.splice(at, 1);
    this.process.stdin!.end();
  }

  /** An idle child must not keep the daemon (or a test) alive; one measuring must. */
  private hold(on: boolean): void {
    for (const h of [this.process, this.process.stdin, this.process.stdout, this.process.stderr] as Array<{ ref?: () => void; unref?: () => void }>) {
      if (on) h.ref?.();
      else h.unref?.();
    }
  }
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
