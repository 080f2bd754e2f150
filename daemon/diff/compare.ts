import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createZstdCompress } from 'node:zlib';
import type { Descriptor } from '../../api/gen/containerd/types/Descriptor.ts';
import type { EntryType, TarEntry } from '../../core/archive/tar.ts';
import { encodeHeader, endOfArchive, padding } from '../../core/archive/tar-writer.ts';
import { BerthError, type ErrorCode, isCode } from '../../core/errors.ts';
import { Limiter } from '../../core/mutex.ts';
import * as native from '../../native/index.ts';
import type { ContentStore } from '../content/store.ts';
import { compressionOf, gzipCompressor, mediaTypes } from './compression.ts';
import { helperEntry, lastLines } from './unpacker.ts';

/**
 * Diff/Compare: the layer that turns `lower` into `upper`, as a deterministic tar (names in byte
 * order, times truncated to seconds as containerd does, hardlinks by inode).
 *
 * 'overlay': `upper` is an overlay upperdir; every entry in it is part of the change, overlay
 * whiteouts (0/0 char devices) become `.wh.NAME` and an opaque directory `.wh..wh..opq`.
 * 'trees': `lower` and `upper` are two full trees; changed or new entries are written, with
 * their parent directories, and entries missing from `upper` become `.wh.NAME`.
 *
 * A container may be running and renaming its files while its snapshot is diffed, so the trees
 * are read by a child process that sees each of them as its root (compare-child.ts, Tree): no
 * symlink swapped in, no `..`, no device node leads the walk anywhere else.
 */
export interface CompareOptions {
  mode: 'overlay' | 'trees';
  upper: string;
  /** the parent tree ('trees' mode); undefined means empty */
  lower?: string;
}

export const uncompressedLabel = 'containerd.io/uncompressed';

const chunkSize = 1 << 20;

/**
 * One tree a diff reads, by a descriptor of its root directory. Each access first makes that
 * directory the process's root (fchdir, chroot), so the kernel resolves every path, its
 * symlinks and `..` included, inside the tree, whatever is renamed in it meanwhile; paths are
 * absolute within the tree. Only for the diff and usage children: it changes the root of the process.
 */
export class Tree {
  private static entered: Tree | undefined;

  constructor(private readonly rootFd: number) {}

  private enter(): void {
    if (Tree.entered === this) return;
    native.fchdir(this.rootFd);
    native.chroot('.');
    Tree.entered = this;
  }

  /** A directory of this tree as a tree of its own (opened from this root, O_DIRECTORY). */
  openTree(path: string): Tree {
    this.enter();
    return new Tree(fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY));
  }

  close(): void {
    if (Tree.entered === this) Tree.entered = undefined;
    fs.closeSync(this.rootFd);
  }

  lstat(path: string): fs.BigIntStats | undefined {
    this.enter();
    try {
      return fs.lstatSync(path, { bigint: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  /** The names in a directory, in byte order. */
  names(dir: string): string[] {
    this.enter();
    return fs.readdirSync(dir).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  }

  readlink(path: string): string {
    this.enter();
    return fs.readlinkSync(path);
  }

  xattr(path: string, name: string): Buffer | null {
    this.enter();
    return native.lgetxattr(path, name);
  }

  xattrs(path: string, skipOverlay: boolean): Map<string, Buffer> {
    this.enter();
    const out = new Map<string, Buffer>();
    let names: string[];
    try {
      names = native.llistxattr(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTSUP' || code === 'EOPNOTSUPP') return out;
      throw err;
    }
    for (const name of names.sort()) {
      if (skipOverlay && name.startsWith('trusted.overlay.')) continue;
      const v = native.lgetxattr(path, name);
      if (v !== null) out.set(name, v);
    }
    return out;
  }

  /**
   * A descriptor of the regular file `st` describes; an error when something else is at `path`
   * now (a FIFO is not waited on: O_NONBLOCK).
   */
  openFile(path: string, st: fs.BigIntStats): number {
    this.enter();
    const fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    const now = fs.fstatSync(fd, { bigint: true });
    if (!now.isFile() || now.dev !== st.dev || now.ino !== st.ino) {
      fs.closeSync(fd);
      throw new BerthError('FailedPrecondition', `diff: ${path} changed while it was archived`);
    }
    return fd;
  }
}

/**
 * For a child about to read trees a container may be changing: a mount namespace of its own
 * (its mounts go away with it), whose mounts do not propagate back to the daemon's.
 */
export function privateMountNamespace(): void {
  native.unshare(native.CLONE_NEWNS);
  native.mount(null, '/', null, native.MS_REC | native.MS_PRIVATE, null);
}

/**
 * The tree at path bound onto itself read-only, nodev, nosuid and noexec (a device node swapped
 * in for a file is never opened), opened as a Tree; after privateMountNamespace.
 */
export function confineTree(path: string): Tree {
  native.mount(path, path, null, native.MS_BIND, null);
  native.mount(null, path, null, native.MS_BIND | native.MS_REMOUNT | native.MS_RDONLY | native.MS_NODEV | native.MS_NOSUID | native.MS_NOEXEC, null);
  return new Tree(fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY));
}

interface Node {
  tree: Tree;
  path: string;
  st: fs.BigIntStats;
}

function typeOf(st: fs.BigIntStats): EntryType | undefined {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return undefined; // sockets are not archived
}

const isWhiteoutDevice = (st: fs.BigIntStats) => st.isCharacterDevice() && st.rdev === 0n;

const major = (rdev: bigint) => Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
const minor = (rdev: bigint) => Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));

function sameXattrs(a: Map<string, Buffer>, b: Map<string, Buffer>) {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (!b.get(k)?.equals(v)) return false;
  return true;
}

/** Does the entry at upper differ from the one at lower (continuity's naive comparison)? */
function changed(up: Node, low: Node): boolean {
  const a = up.st;
  const b = low.st;
  if (typeOf(a) !== typeOf(b) || a.mode !== b.mode || a.uid !== b.uid || a.gid !== b.gid) return true;
  if (a.isSymbolicLink()) return up.tree.readlink(up.path) !== low.tree.readlink(low.path);
  if (a.isCharacterDevice() || a.isBlockDevice()) return a.rdev !== b.rdev;
  if (!sameXattrs(up.tree.xattrs(up.path, false), low.tree.xattrs(low.path, false))) return true;
  if (a.isDirectory()) return a.mtimeNs !== b.mtimeNs;
  if (a.dev === b.dev && a.ino === b.ino) return false;
  return a.size !== b.size || a.mtimeNs !== b.mtimeNs;
}

class DiffWalker {
  private readonly links = new Map<string, string>();
  /** directories not emitted yet, waiting for a changed descendant ('trees' mode) */
  private readonly pendingDirs: Array<{ name: string; node: Node; emitted: boolean }> = [];

  constructor(
    private readonly mode: CompareOptions['mode'],
    private readonly upper: Tree,
    private readonly lower: Tree | undefined,
  ) {}

  async *walk(): AsyncGenerator<Buffer> {
    yield* this.dir('', '/', this.lower && '/');
    yield endOfArchive();
  }

  private entry(name: string, node: Node): TarEntry {
    const st = node.st;
    const type = typeOf(st)!;
    return {
      name: type === 'dir' ? `${name}/` : name,
      type,
      mode: Number(st.mode & 0o7777n),
      uid: Number(st.uid),
      gid: Number(st.gid),
      size: type === 'file' ? Number(st.size) : 0,
      mtime: Number(st.mtimeNs / 1_000_000_000n),
      linkname: type === 'symlink' ? node.tree.readlink(node.path) : '',
      devmajor: type === 'char' || type === 'block' ? major(st.rdev) : 0,
      devminor: type === 'char' || type === 'block' ? minor(st.rdev) : 0,
      xattrs: node.tree.xattrs(node.path, this.mode === 'overlay'),
    };
  }

  private whiteout(name: string, like: fs.BigIntStats): TarEntry {
    return {
      name,
      type: 'file',
      mode: 0,
      uid: Number(like.uid),
      gid: Number(like.gid),
      size: 0,
      mtime: Number(like.mtimeNs / 1_000_000_000n),
      linkname: '',
      devmajor: 0,
      devminor: 0,
      xattrs: new Map(),
    };
  }

  private *flushPending(): Generator<Buffer> {
    for (const p of this.pendingDirs) {
      if (p.emitted) continue;
      p.emitted = true;
      yield encodeHeader(this.entry(p.name, p.node));
    }
  }

  private async *emit(name: string, node: Node): AsyncGenerator<Buffer> {
    yield* this.flushPending();
    const e = this.entry(name, node);
    if (e.type !== 'dir' && node.st.nlink > 1n) {
      const key = `${node.st.dev}:${node.st.ino}`;
      const first = this.links.get(key);
      if (first !== undefined) {
        yield encodeHeader({ ...e, type: 'link', size: 0, linkname: first });
        return;
      }
      this.links.set(key, name);
    }
    yield encodeHeader(e);
    if (e.type === 'file') yield* this.body(node, e.size);
  }

  private async *body(node: Node, size: number): AsyncGenerator<Buffer> {
    const path = node.path;
    const fd = node.tree.openFile(path, node.st);
    try {
      let done = 0;
      while (done < size) {
        const buf = Buffer.allocUnsafe(Math.min(chunkSize, size - done));
        const n = await new Promise<number>((resolve, reject) => fs.read(fd, buf, 0, buf.length, done, (err, r) => (err ? reject(err) : resolve(r))));
        if (n === 0) throw new BerthError('FailedPrecondition', `diff: ${path} shrank while it was archived`);
        done += n;
        yield n === buf.length ? buf : buf.subarray(0, n);
      }
    } finally {
      fs.closeSync(fd);
    }
    if (padding(size) > 0) yield Buffer.alloc(padding(size));
  }

  private async *dir(prefix: string, upperDir: string, lowerDir: string | undefined): AsyncGenerator<Buffer> {
    const overlay = this.mode === 'overlay';
    const { upper, lower } = this;
    const names = upper.names(upperDir);
    if (!overlay && lower !== undefined && lowerDir !== undefined && lower.lstat(lowerDir)?.isDirectory()) {
      // deletions: in lower, not in upper
      const present = new Set(names);
      for (const n of lower.names(lowerDir)) {
        if (present.has(n)) continue;
        const like = upper.lstat(upperDir);
        if (!like) throw new BerthError('FailedPrecondition', `diff: ${upperDir} went away while it was archived`);
        yield* this.flushPending();
        yield encodeHeader(this.whiteout(`${prefix}.wh.${n}`, like));
      }
    }
    for (const n of names) {
      const name = `${prefix}${n}`;
      const node: Node = { tree: upper, path: join(upperDir, n), st: upper.lstat(join(upperDir, n))! };
      if (!node.st || typeOf(node.st) === undefined) continue;
      if (overlay) {
        if (isWhiteoutDevice(node.st)) {
          yield encodeHeader(this.whiteout(`${prefix}.wh.${n}`, node.st));
          continue;
        }
        yield* this.emit(name, node);
        if (node.st.isDirectory()) {
          if (upper.xattr(node.path, 'trusted.overlay.opaque')?.toString() === 'y') {
            yield encodeHeader(this.whiteout(`${name}/.wh..wh..opq`, node.st));
          }
          yield* this.dir(`${name}/`, node.path, undefined);
        }
        continue;
      }
      const lowerPath = lowerDir === undefined ? undefined : join(lowerDir, n);
      const lowerSt = lowerPath === undefined ? undefined : lower?.lstat(lowerPath);
      const lowerNode = lowerSt ? { tree: lower!, path: lowerPath!, st: lowerSt } : undefined;
      const isNew = !lowerNode || changed(node, lowerNode);
      if (node.st.isDirectory()) {
        const bothDirs = lowerNode?.st.isDirectory() ?? false;
        if (isNew) yield* this.emit(name, node);
        this.pendingDirs.push({ name, node, emitted: isNew });
        yield* this.dir(`${name}/`, node.path, bothDirs ? lowerNode!.path : undefined);
        this.pendingDirs.pop();
      } else if (isNew) {
        yield* this.emit(name, node);
      }
    }
  }
}

/** The uncompressed tar stream of the change from lower to upper, read in this process (the diff child). */
export function walkDiff(mode: CompareOptions['mode'], upper: Tree, lower: Tree | undefined): AsyncGenerator<Buffer> {
  return new DiffWalker(mode, upper, lower).walk();
}

/** What the diff child reports on fd 3 when it fails. */
export interface CompareFailure {
  error: string;
  code: ErrorCode;
}

export const maxReport = 64 << 10;

/** The error a failed tree-reading child (diff, usage) reported on fd 3, or why it died. */
export function childFailure(what: string, report: string, stderr: string, code: number | null, signal: NodeJS.Signals | null): BerthError {
  let failure: CompareFailure | undefined;
  try {
    failure = JSON.parse(report) as CompareFailure;
  } catch {
    failure = undefined;
  }
  if (failure?.error) return new BerthError(failure.code ?? 'Unknown', failure.error);
  const why = signal ? `killed by ${signal}` : `exit status ${code}`;
  return new BerthError('Unknown', `${what}: the ${what} process failed (${why})${stderr ? `: ${lastLines(stderr)}` : ''}`);
}

/** The uncompressed tar stream of the change from lower to upper, from a diff child (compare-child.ts). */
export async function* diffStream(opts: CompareOptions): AsyncGenerator<Buffer> {
  const release = await diffSlots.acquire();
  try {
    yield* diffChild(opts);
  } finally {
    release();
  }
}

/** Diffs at a time: a flood of Diff calls waits for these, never starts a process each. */
const diffSlots = new Limiter(availableParallelism());

async function* diffChild(opts: CompareOptions): AsyncGenerator<Buffer> {
  const args: CompareOptions = { mode: opts.mode, upper: opts.upper, lower: opts.lower };
  const child = spawn(process.execPath, [helperEntry('compare-child.js'), JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
  const closed = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
    child.once('error', () => resolve([null, null]));
    child.once('close', (code, signal) => resolve([code, signal]));
  });
  let stderr = '';
  let report = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-maxReport)));
  (child.stdio[3] as Readable).setEncoding('utf8').on('data', (d: string) => (report = (report + d).slice(0, maxReport)));
  let over = false;
  try {
    for await (const chunk of child.stdout!) yield chunk as Buffer;
    const [code, signal] = await closed;
    over = true;
    if (code === 0) return;
    throw childFailure('diff', report, stderr, code, signal);
  } finally {
    // the reader stopped early (the content store failed): the walk is not wanted any more
    if (!over) child.kill('SIGKILL');
  }
}

export interface WriteDiffOptions extends CompareOptions {
  store: ContentStore;
  ns: string;
  mediaType?: string;
  ref?: string;
  lease?: string;
  labels?: Record<string, string>;
}

/** Writes the diff into the content store (streaming) and returns its descriptor. */
export async function writeDiff(opts: WriteDiffOptions): Promise<Descriptor> {
  const mediaType = opts.mediaType || mediaTypes.ociLayerGzip;
  const compression = compressionOf(mediaType);
  if (compression === 'detect') throw new BerthError('InvalidArgument', `cannot write a diff as ${mediaType}: its compression is not defined`);
  const ref = opts.ref || `diff-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  const writer = await opts.store.writer(opts.ns, { ref, lease: opts.lease });
  const hash = createHash('sha256');
  try {
    await writer.truncate();
    const tap = async function* (src: AsyncIterable<Buffer>) {
      for await (const chunk of src) {
        hash.update(chunk);
        yield chunk;
      }
    };
    const sink = async (src: AsyncIterable<Buffer>) => {
      for await (const chunk of src) await writer.write(chunk);
    };
    const source = Readable.from(diffStream(opts), { objectMode: false });
    if (compression === 'gzip') await pipeline(source, tap, gzipCompressor(), sink);
    else if (compression === 'zstd') await pipeline(source, tap, createZstdCompress(), sink);
    else await pipeline(source, tap, sink);
    const diffID = `sha256:${hash.digest('hex')}`;
    const labels = { ...opts.labels, [uncompressedLabel]: diffID };
    const size = writer.offset;
    let digest: string;
    try {
      digest = await writer.commit(size, '', labels);
    } catch (err) {
      if (!isCode(err, 'AlreadyExists')) throw err;
      digest = writer.digest();
      await opts.store.update(opts.ns, digest, labels, [`labels.${uncompressedLabel}`]);
    }
    return { media_type: mediaType, digest, size };
  } finally {
    await writer.close();
  }
}
