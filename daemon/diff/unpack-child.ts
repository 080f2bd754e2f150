/**
 * The unpack child: `node unpack-child.js ['<json UnpackArgs>']`; without the argument, the first
 * line of stdin holds it (the daemon starts a child ahead of need); then the layer blob.
 *
 * It chroot()s into the target before reading a single byte of the layer, so the kernel keeps every path
 * inside the target; then it decompresses, hashes (the diffID) and applies the tar stream,
 * reading stdin to EOF. It prints one JSON line on stdout: {diffID, size, warnings} or
 * {error, code, errno}, and exits 0 or 1.
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
  /** overlay mode: ask the daemon (fd 3 → requests, fd 4 ← answers) for parent directory info */
  askParents?: boolean;
}

export const requestFd = 3;
export const answerFd = 4;

/** One synchronous question to the daemon: the lowers' info for a directory (see parents.ts). */
function askParent(path: string): DirInfo | null {
  fs.writeSync(requestFd, `${JSON.stringify(path)}\n`);
  const buf = Buffer.alloc(1 << 16);
  let line = '';
  const nap = new Int32Array(new SharedArrayBuffer(4));
  while (!line.endsWith('\n')) {
    let n: number;
    try {
      n = fs.readSync(answerFd, buf);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      Atomics.wait(nap, 0, 0, 1);
      continue;
    }
    if (n === 0) throw new Error('the daemon closed the parents channel');
    line += buf.toString('utf8', 0, n);
  }
  return JSON.parse(line) as DirInfo | null;
}

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

async function main(): Promise<UnpackResult | undefined> {
  native.native(); // load the addon while its file is still reachable
  const input = process.stdin[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let pending: Buffer = Buffer.alloc(0);
  let eof = false;
  const more = async () => {
    const r = await input.next();
    if (r.done) eof = true;
    else pending = pending.length > 0 ? Buffer.concat([pending, r.value]) : r.value;
    return !r.done;
  };
  let args: UnpackArgs;
  if (process.argv[2]) {
    args = JSON.parse(process.argv[2]) as UnpackArgs;
  } else {
    let nl = pending.indexOf(10);
    while (nl < 0) {
      if (pending.length > maxArgsLine) throw new BerthError('InvalidArgument', 'unpack arguments line too long');
      if (!(await more())) return undefined; // a spare child that was never used
      nl = pending.indexOf(10);
    }
    args = JSON.parse(pending.subarray(0, nl).toString('utf8')) as UnpackArgs;
    pending = pending.subarray(nl + 1);
  }
  native.chroot(args.root);
  process.chdir('/');
  process.umask(0);

  while (pending.length < 4 && !eof) await more();
  const first = pending;
  const compression = resolveCompression(args.compression, first);
  const source = Readable.from(
    (async function* () {
      if (first.length > 0) yield first;
      if (eof) return;
      for (;;) {
        const r = await input.next();
        if (r.done) return;
        yield r.value;
      }
    })(),
    { objectMode: false },
  );

  const hash = createHash('sha256');
  let size = 0;
  const applier = new Applier(args.mode, args.askParents ? askParent : undefined);
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
  const result: UnpackResult = { diffID: `sha256:${hash.digest('hex')}`, size, warnings: applier.warnings };
  return result;
}

function report(line: object, exitCode: number) {
  process.stdout.write(`${JSON.stringify(line)}\n`, () => process.exit(exitCode));
}

main().then(
  (r) => (r ? report(r, 0) : process.exit(0)),
  (err) => {
    const e = err as Error & { code?: string; errno?: string };
    const failure: UnpackFailure = {
      error: e.message,
      code: err instanceof BerthError ? err.code : 'Unknown',
      errno: typeof e.errno === 'string' ? e.errno : e.code,
    };
    report(failure, 1);
  },
);
