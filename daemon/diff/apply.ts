import { spawn, type ChildProcess } from 'node:child_process';
import { createReadStream, existsSync, promises as fsp, type BigIntStats } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Readable, Writable } from 'node:stream';
import * as native from '../../native/index.ts';
import { parentInfo } from './parents.ts';
import { BerthError, type ErrorCode } from '../../proto/errors.ts';
import type { ApplyMode } from './applier.ts';
import { compressionOf } from './compression.ts';
import type { UnpackArgs, UnpackFailure, UnpackResult } from './unpack-child.ts';

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
  /** the (possibly compressed) layer bytes */
  blob: string | Readable;
  /** overlay mode: the lowerdirs, topmost first, whose directory attributes missing parents copy */
  parents?: readonly string[];
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

// A hostile archive must not grow the child without bound; it streams, so little is needed.
const childHeapMB = 256;
const maxOutput = 64 << 10;
const exitGraceMs = 10_000;

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
    .find((m) => m !== undefined && m.startsWith(`${real}/`));
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

/** One run of the unpack child: the layer applied onto opts.root, nothing undone. */
async function unpack(opts: ApplyOptions): Promise<Applied> {
  const parents = opts.mode === 'overlay' ? (opts.parents ?? []) : [];
  const args: UnpackArgs = { root: opts.root, mode: opts.mode, compression: compressionOf(opts.mediaType), askParents: parents.length > 0 };
  const child = takeChild();
  child.stdin!.write(`${JSON.stringify(args)}\n`);
  if (parents.length > 0) answerParents(child.stdio[3] as Readable, child.stdio[4] as Writable, parents, () => child.kill('SIGKILL'));
  if (child.pid !== undefined) opts.onSpawn?.(child.pid);
  let stdout = '';
  let stderr = '';
  // The child's last act is one result line; one that then fails to exit is killed, and its
  // result still stands (everything it applied was written with synchronous calls).
  let exitTimer: NodeJS.Timeout | undefined;
  child.stdout!.on('data', (d: Buffer) => {
    stdout = (stdout + d.toString()).slice(-maxOutput);
    if (!exitTimer && stdout.endsWith('\n')) exitTimer = setTimeout(() => child.kill('SIGKILL'), exitGraceMs);
  });
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-maxOutput)));
  // The child may stop reading early (a refused entry): that is its answer, not ours.
  child.stdin!.on('error', () => undefined);
  const source = typeof opts.blob === 'string' ? createReadStream(opts.blob, { highWaterMark: 1 << 20 }) : opts.blob;
  let readError: Error | undefined;
  source.on('error', (err: Error) => {
    child.stdin!.destroy();
    child.kill('SIGKILL');
    readError ??= err;
  });
  source.pipe(child.stdin!);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c, s) => resolve([c, s]));
  });
  clearTimeout(exitTimer);
  // a child that stopped early leaves the source unread; it is consumed either way
  source.destroy();
  if (readError) throw new BerthError('Unknown', `reading layer: ${readError.message}`);
  const line = stdout.trim().split('\n').pop() ?? '';
  let out: (UnpackResult & Partial<UnpackFailure>) | undefined;
  try {
    out = line ? JSON.parse(line) : undefined;
  } catch {
    out = undefined;
  }
  if ((code === 0 || exitTimer) && out?.diffID) return { diffID: out.diffID, size: out.size, warnings: out.warnings ?? [] };
  if (out?.error) throw new BerthError((out.code as ErrorCode) ?? 'Unknown', `apply layer: ${out.error}`);
  const why = signal ? `killed by ${signal}` : `exit status ${code}`;
  throw new BerthError('Unknown', `apply layer: unpack process failed (${why})${stderr ? `: ${lastLines(stderr)}` : ''}`);
}

/**
 * Node's start-up (~50 ms) would be paid by every layer, so one unpack child is started ahead of
 * need and waits for its arguments on stdin. The spare does not keep the daemon alive, exits when
 * the daemon does (its stdin closes), and is not kept once idle for a while.
 */
const spareIdleMs = 15_000;
let spare: { child: ChildProcess; idle: NodeJS.Timeout } | undefined;

function startChild(): ChildProcess {
  return spawn(process.execPath, [`--max-old-space-size=${childHeapMB}`, childEntry()], { stdio: ['pipe', 'pipe', 'pipe', 'pipe', 'pipe'] });
}

/** The pipes of a child count for the event loop (or not) with the child. */
function holdLoop(child: ChildProcess, hold: boolean) {
  for (const s of [child, ...child.stdio]) {
    const handle = s as { ref?: () => void; unref?: () => void } | null;
    if (hold) handle?.ref?.();
    else handle?.unref?.();
  }
}

function takeChild(): ChildProcess {
  let child = spare?.child;
  if (spare) clearTimeout(spare.idle);
  spare = undefined;
  if (child && child.exitCode === null && child.signalCode === null) {
    holdLoop(child, true);
  } else {
    child?.kill('SIGKILL');
    child = startChild();
  }
  setImmediate(() => {
    if (spare) return;
    const next = startChild();
    next.on('error', () => undefined);
    holdLoop(next, false);
    const idle = setTimeout(() => {
      if (spare?.child === next) spare = undefined;
      next.kill('SIGKILL');
    }, spareIdleMs);
    idle.unref();
    spare = { child: next, idle };
  });
  return child;
}

/** Answers the child's parent-directory questions, one JSON line each way. */
function answerParents(requests: Readable, answers: Writable, parents: readonly string[], kill: () => void) {
  let pending = '';
  answers.on('error', () => undefined);
  requests.on('error', () => undefined);
  requests.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    if (pending.length > maxOutput) return kill(); // no honest child asks that much at once
    for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      let info = null;
      try {
        info = parentInfo(parents, String(JSON.parse(line)));
      } catch {
        info = null; // unreadable in the lowers: default attributes, as containerd logs and goes on
      }
      answers.write(`${JSON.stringify(info)}\n`);
    }
  });
}

function lastLines(s: string) {
  return s.trim().split('\n').slice(-5).join(' | ');
}

/** dist/daemon/diff/unpack-child.js, from either the sources or dist. */
function childEntry(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) break;
    const up = dirname(dir);
    if (up === dir) throw new BerthError('Internal', 'berth: no package.json above the diff module');
    dir = up;
  }
  const file = join(dir, 'dist', 'daemon', 'diff', 'unpack-child.js');
  if (!existsSync(file)) throw new BerthError('Internal', `berth unpack helper not built (${file} is missing): run \`npm run build\``);
  return file;
}
