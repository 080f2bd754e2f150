import { spawn } from 'node:child_process';
import { createReadStream, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Readable, Writable } from 'node:stream';
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
 * Inside `root` a failed layer may be partly applied: it is NOT rolled back. As in containerd,
 * the caller applies onto a fresh active snapshot and removes that snapshot when Apply fails.
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

export async function applyLayer(opts: ApplyOptions): Promise<Applied> {
  const parents = opts.mode === 'overlay' ? (opts.parents ?? []) : [];
  const args: UnpackArgs = { root: opts.root, mode: opts.mode, compression: compressionOf(opts.mediaType), askParents: parents.length > 0 };
  const child = spawn(process.execPath, [`--max-old-space-size=${childHeapMB}`, childEntry(), JSON.stringify(args)], {
    stdio: ['pipe', 'pipe', 'pipe', ...(parents.length > 0 ? (['pipe', 'pipe'] as const) : [])],
  });
  if (parents.length > 0) answerParents(child.stdio[3] as Readable, child.stdio[4] as Writable, parents, () => child.kill('SIGKILL'));
  if (child.pid !== undefined) opts.onSpawn?.(child.pid);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout = (stdout + d.toString()).slice(-maxOutput)));
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-maxOutput)));
  // The child may stop reading early (a refused entry): that is its answer, not ours.
  child.stdin.on('error', () => undefined);
  const source = typeof opts.blob === 'string' ? createReadStream(opts.blob, { highWaterMark: 1 << 20 }) : opts.blob;
  let readError: Error | undefined;
  source.on('error', (err: Error) => {
    child.stdin.destroy();
    child.kill('SIGKILL');
    readError ??= err;
  });
  source.pipe(child.stdin);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c, s) => resolve([c, s]));
  });
  if (typeof opts.blob === 'string') (source as ReturnType<typeof createReadStream>).destroy();
  if (readError) throw new BerthError('Unknown', `reading layer: ${readError.message}`);
  const line = stdout.trim().split('\n').pop() ?? '';
  let out: (UnpackResult & Partial<UnpackFailure>) | undefined;
  try {
    out = line ? JSON.parse(line) : undefined;
  } catch {
    out = undefined;
  }
  if (code === 0 && out?.diffID) return { diffID: out.diffID, size: out.size, warnings: out.warnings ?? [] };
  if (out?.error) throw new BerthError((out.code as ErrorCode) ?? 'Unknown', `apply layer: ${out.error}`);
  const why = signal ? `killed by ${signal}` : `exit status ${code}`;
  throw new BerthError('Unknown', `apply layer: unpack process failed (${why})${stderr ? `: ${lastLines(stderr)}` : ''}`);
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
