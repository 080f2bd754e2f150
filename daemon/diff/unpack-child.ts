/**
 * The unpack child: `node unpack-child.js`, started by the daemon ahead of need (unpacker.ts). It
 * applies layers one after another, each a job of JSON lines on stdin: the UnpackArgs, then how
 * far the blob's bytes go (`{"written": n}` while a download still writes them, `{"end": n}`
 * once they are all there). The child reads the blob itself, from the daemon's descriptor
 * (`/proc/<daemon>/fd/<n>`, opened before the chroot). For each job it prints one JSON line on
 * stdout: {diffID, size, warnings}, or {error, code, errno}, after which it exits with status 1.
 * stdin's end makes it exit.
 *
 * For each job it chroot()s into the target before reading a single byte of the layer, so the
 * kernel keeps every path inside the target; then it decompresses, hashes (the diffID) and
 * applies the tar stream. Between jobs it goes back to the real root through a descriptor it
 * opened at start: the archive is data, and nothing it names can reach that descriptor.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { TarReader } from '../../core/archive/tar.ts';
import { BerthError } from '../../core/errors.ts';
import * as native from '../../native/index.ts';
import { Applier, type ApplyMode } from './applier.ts';
import { type Compression, decompressor, resolveCompression } from './compression.ts';
import type { DirInfo } from './parents.ts';

export interface UnpackArgs {
  root: string;
  mode: ApplyMode;
  compression: Compression | 'detect';
  /** where to read the blob, opened before the chroot */
  blob: string;
  /** overlay mode: ask the daemon (fd 3 → request, fd 4 ← answer) for parent directory info */
  askParents?: boolean;
}

export const requestFd = 3;
export const answerFd = 4;

export interface UnpackResult {
  diffID: string;
  size: number;
  warnings: Array<{ entry: string; message: string }>;
}

export interface UnpackFailure {
  error: string;
  code: string;
  errno?: string;
}

const maxArgsLine = 64 << 10;
const readSize = 1 << 20;

/** How far a job's blob goes, as the daemon tells it; failure: the telling broke off. */
interface Extent {
  written: number;
  end?: number;
  failure?: Error;
}

/** stdin as JSON lines: each job's arguments, then its blob's extent as it grows. */
class JobInput {
  private readonly input = process.stdin[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  private pending: Buffer = Buffer.alloc(0);

  /** The next line, undefined at the end of stdin. */
  private async line(): Promise<string | undefined> {
    for (;;) {
      const nl = this.pending.indexOf(10);
      if (nl >= 0) {
        const line = this.pending.subarray(0, nl).toString('utf8');
        this.pending = this.pending.subarray(nl + 1);
        return line;
      }
      if (this.pending.length > maxArgsLine) throw new BerthError('InvalidArgument', 'unpack input line too long');
      const r = await this.input.next();
      if (r.done) {
        if (this.pending.length > 0) throw new BerthError('InvalidArgument', 'stdin ended inside a line');
        return undefined;
      }
      this.pending = this.pending.length > 0 ? Buffer.concat([this.pending, r.value]) : r.value;
    }
  }

  /** The next job's arguments; undefined at the end of stdin. */
  async args(): Promise<UnpackArgs | undefined> {
    const line = await this.line();
    return line === undefined ? undefined : (JSON.parse(line) as UnpackArgs);
  }

  /**
   * Follows the blob's extent until its end is known: `changed` is called at each update. A
   * failure (stdin ended, a bad line) is left for the reader, through `extent`.
   */
  async follow(extent: Extent, changed: () => void): Promise<void> {
    try {
      while (extent.end === undefined) {
        const line = await this.line();
        if (line === undefined) throw new Error('the daemon went away');
        const update = JSON.parse(line) as { written?: number; end?: number };
        if (typeof update.end === 'number') extent.end = update.end;
        else if (typeof update.written === 'number') extent.written = update.written;
        else throw new Error(`unexpected line ${JSON.stringify(line.slice(0, 100))}`);
        changed();
      }
    } catch (err) {
      extent.failure = err as Error;
      changed();
    }
  }
}

/** The blob's bytes from fd, as far as the extent goes, waiting for it to grow. */
async function* readBlob(fd: number, extent: Extent, grown: () => Promise<void>): AsyncGenerator<Buffer> {
  let at = 0;
  for (;;) {
    if (extent.failure) throw extent.failure;
    const limit = extent.end ?? extent.written;
    if (at < limit) {
      const buf = Buffer.allocUnsafe(Math.min(readSize, limit - at));
      const n = await new Promise<number>((resolve, reject) => fs.read(fd, buf, 0, buf.length, at, (err, bytes) => (err ? reject(err) : resolve(bytes))));
      if (n === 0) throw new Error(`the layer blob ends at ${at} bytes, short of the ${limit} written`);
      at += n;
      yield n === buf.length ? buf : buf.subarray(0, n);
      continue;
    }
    if (extent.end !== undefined) return;
    await grown();
  }
}

/**
 * One synchronous question to the daemon, after the last entry: the lowers' info for each
 * directory the layer needed but did not hold (see parents.ts). One JSON line each way; the
 * answer may take a while (the lowers may still be being applied).
 */
function askParents(paths: string[]): Array<DirInfo | null> {
  const nap = new Int32Array(new SharedArrayBuffer(4));
  const again = (err: unknown) => {
    if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
    Atomics.wait(nap, 0, 0, 1);
  };
  const request = Buffer.from(`${JSON.stringify(paths)}\n`);
  for (let off = 0; off < request.length; ) {
    try {
      off += fs.writeSync(requestFd, request, off);
    } catch (err) {
      again(err);
    }
  }
  const buf = Buffer.alloc(1 << 16);
  const chunks: Buffer[] = [];
  for (;;) {
    let n: number;
    try {
      n = fs.readSync(answerFd, buf);
    } catch (err) {
      again(err);
      continue;
    }
    if (n === 0) throw new Error('the daemon closed the parents channel');
    chunks.push(Buffer.from(buf.subarray(0, n)));
    if (buf[n - 1] === 10) break;
  }
  const infos = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Array<DirInfo | null>;
  if (!Array.isArray(infos) || infos.length !== paths.length) throw new Error('the daemon answered the parents question wrongly');
  return infos;
}

/** One layer onto args.root, inside a chroot that is left again afterwards. */
async function applyJob(args: UnpackArgs, input: JobInput, realRoot: number): Promise<UnpackResult> {
  const fd = fs.openSync(args.blob, 'r');
  const extent: Extent = { written: 0 };
  let wake: (() => void) | undefined;
  const following = input.follow(extent, () => {
    const w = wake;
    wake = undefined;
    w?.();
  });
  const grown = () => new Promise<void>((resolve) => (wake = resolve));
  native.chroot(args.root);
  process.chdir('/');
  try {
    const blob = readBlob(fd, extent, grown);
    let first = await blob.next();
    // the compression check needs the first bytes
    while (!first.done && first.value.length < 4) {
      const more = await blob.next();
      if (more.done) break;
      first = { done: false, value: Buffer.concat([first.value, more.value]) };
    }
    const head = first.done ? Buffer.alloc(0) : first.value;
    const compression = resolveCompression(args.compression, head);
    const source = Readable.from(
      (async function* () {
        if (head.length > 0) yield head;
        yield* blob;
      })(),
      { objectMode: false },
    );
    const hash = createHash('sha256');
    let size = 0;
    const applier = new Applier(args.mode, args.askParents ? askParents : undefined);
    const reader = new TarReader(applier);
    const dec = decompressor(compression);
    const apply = async (plain: AsyncIterable<Buffer>) => {
      for await (const chunk of plain) {
        hash.update(chunk);
        size += chunk.length;
        reader.feed(chunk);
      }
      reader.close();
      applier.finish();
    };
    try {
      if (dec) await pipeline(source, dec, apply);
      else await pipeline(source, apply);
    } catch (err) {
      // what is not ours nor a system call's comes from the decompressor: corrupt or truncated data
      if (!(err instanceof BerthError) && !(err as NodeJS.ErrnoException).syscall && err !== extent.failure) {
        throw new BerthError('InvalidArgument', `invalid archive: ${compression} stream: ${(err as Error).message}`);
      }
      throw err;
    }
    await following;
    return { diffID: `sha256:${hash.digest('hex')}`, size, warnings: applier.warnings };
  } finally {
    fs.closeSync(fd);
    native.fchdir(realRoot);
    native.chroot('.');
    process.chdir('/');
  }
}

function report(line: object): Promise<void> {
  return new Promise((resolve) => process.stdout.write(`${JSON.stringify(line)}\n`, () => resolve()));
}

async function main(): Promise<void> {
  native.native(); // load the addon while its file is reachable
  const realRoot = fs.openSync('/', 'r');
  process.umask(0);
  const input = new JobInput();
  for (;;) {
    const args = await input.args();
    if (!args) return;
    await report(await applyJob(args, input, realRoot));
  }
}

main().then(
  () => process.exit(0),
  async (err) => {
    const e = err as Error & { code?: string; errno?: string };
    const failure: UnpackFailure = {
      error: e.message,
      code: err instanceof BerthError ? err.code : 'Unknown',
      errno: typeof e.errno === 'string' ? e.errno : e.code,
    };
    await report(failure);
    process.exit(1);
  },
);
