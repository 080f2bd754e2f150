/**
 * The unpack child: `node unpack-child.js`, started by the daemon ahead of need (apply.ts). It
 * applies layers one after another, each a job on stdin: one JSON line of UnpackArgs, then the
 * layer blob in frames (a 4-byte big-endian length, then that many bytes; length 0 ends the
 * blob). For each job it prints one JSON line on stdout: {diffID, size, warnings}, or
 * {error, code, errno}, after which it exits with status 1. stdin's end makes it exit 0.
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
import * as native from '../../native/index.ts';
import { BerthError } from '../../proto/errors.ts';
import { Applier, type ApplyMode } from './applier.ts';
import { decompressor, resolveCompression, type Compression } from './compression.ts';
import type { DirInfo } from './parents.ts';
import { TarReader } from './tar.ts';

export interface UnpackArgs {
  root: string;
  mode: ApplyMode;
  compression: Compression | 'detect';
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

/** stdin as jobs: args lines and framed blobs. */
class JobInput {
  private readonly input = process.stdin[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  private pending: Buffer = Buffer.alloc(0);

  /** At least n bytes pending; false at the end of stdin. */
  private async fill(n: number): Promise<boolean> {
    while (this.pending.length < n) {
      const r = await this.input.next();
      if (r.done) return false;
      this.pending = this.pending.length > 0 ? Buffer.concat([this.pending, r.value]) : r.value;
    }
    return true;
  }

  private take(n: number): Buffer {
    const out = this.pending.subarray(0, n);
    this.pending = this.pending.subarray(n);
    return out;
  }

  /** The next job's arguments; undefined at the end of stdin. */
  async args(): Promise<UnpackArgs | undefined> {
    for (;;) {
      const nl = this.pending.indexOf(10);
      if (nl >= 0) return JSON.parse(this.take(nl + 1).toString('utf8')) as UnpackArgs;
      if (this.pending.length > maxArgsLine) throw new BerthError('InvalidArgument', 'unpack arguments line too long');
      if (!(await this.fill(this.pending.length + 1))) {
        if (this.pending.length > 0) throw new BerthError('InvalidArgument', 'stdin ended inside the arguments line');
        return undefined;
      }
    }
  }

  /** The job's blob, frame by frame, up to the empty frame. */
  async *blob(): AsyncGenerator<Buffer> {
    for (;;) {
      if (!(await this.fill(4))) throw new Error('the layer stream ended without its last frame');
      const length = this.take(4).readUInt32BE(0);
      if (length === 0) return;
      let left = length;
      while (left > 0) {
        if (this.pending.length === 0 && !(await this.fill(1))) throw new Error('the layer stream ended inside a frame');
        const part = this.take(Math.min(left, this.pending.length));
        left -= part.length;
        yield part;
      }
    }
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
async function applyJob(args: UnpackArgs, blob: AsyncGenerator<Buffer>, realRoot: number): Promise<UnpackResult> {
  native.chroot(args.root);
  process.chdir('/');
  try {
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
      if (!(err instanceof BerthError) && !(err as NodeJS.ErrnoException).syscall) {
        throw new BerthError('InvalidArgument', `invalid archive: ${compression} stream: ${(err as Error).message}`);
      }
      throw err;
    }
    return { diffID: `sha256:${hash.digest('hex')}`, size, warnings: applier.warnings };
  } finally {
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
    await report(await applyJob(args, input.blob(), realRoot));
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
