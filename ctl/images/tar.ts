import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { Header, Parser, type ReadEntry } from 'tar';

/**
 * Streaming tar for image archives: entries are read one at a time from the input with
 * backpressure (node-tar's Parser, strict: a bad checksum or a truncated archive is an error),
 * and written with node-tar's Header and the bytes streamed after it. Nothing is extracted.
 */

/**
 * The entries of a tar stream, in order. The consumer must read or resume each entry before
 * asking for the next; an entry it leaves is drained. Breaking out stops reading the input.
 */
const block = 512;

export async function* tarEntries(source: AsyncIterable<Buffer | string>): AsyncGenerator<ReadEntry> {
  const parser = new Parser({ strict: true });
  const queue: ReadEntry[] = [];
  let failure: Error | undefined;
  let ended = false;
  let wake: (() => void) | undefined;
  const poke = () => {
    wake?.();
    wake = undefined;
  };
  parser.on('entry', (entry: ReadEntry) => {
    queue.push(entry);
    poke();
  });
  parser.on('error', (err: Error) => {
    failure ??= new Error(`not a valid tar archive: ${err.message.replace(/^TAR_[A-Z_]+: /, '')}`);
    poke();
  });
  parser.on('end', () => {
    ended = true;
    poke();
  });
  const stop = new AbortController();
  const feed = (async () => {
    let total = 0;
    let gzip: boolean | undefined;
    for await (const piece of source) {
      if (stop.signal.aborted || failure) return;
      const chunk = typeof piece === 'string' ? Buffer.from(piece) : piece;
      gzip ??= chunk[0] === 0x1f && chunk[1] === 0x8b;
      total += chunk.length;
      if (!parser.write(chunk)) await once(parser, 'drain', { signal: stop.signal });
    }
    // node-tar takes a final partial header block silently
    if (!gzip && total % block !== 0) throw new Error(`not a valid tar archive: truncated (${total} bytes is not a whole number of ${block}-byte blocks)`);
    parser.end();
  })().catch((err: Error) => {
    if (!stop.signal.aborted) failure ??= err;
    poke();
  });
  try {
    for (;;) {
      const entry = queue.shift();
      if (entry) {
        yield entry;
        if (!entry.emittedEnd) entry.resume();
        continue;
      }
      if (failure) throw failure;
      if (ended) return;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    // not waiting for the feed: it may sit in a read of a stalled pipe; it stops at its next chunk
    stop.abort();
    void feed;
  }
}


/** Writes a tar stream to out, waiting for it to drain. */
export class TarWriter {
  constructor(private readonly out: Writable) {}

  private async write(data: Buffer) {
    if (!this.out.write(data)) await once(this.out, 'drain');
  }

  /** A regular file (mode 0444 like containerd's blobs, unless given) or a directory (name ends in /). */
  async entry(path: string, size: number, body?: AsyncIterable<Uint8Array> | Buffer, mode?: number) {
    const dir = path.endsWith('/');
    const header = Buffer.alloc(block);
    new Header({ path, mode: mode ?? (dir ? 0o755 : 0o444), size: dir ? 0 : size, type: dir ? 'Directory' : 'File', mtime: new Date(0), uid: 0, gid: 0 }).encode(header);
    await this.write(header);
    let written = 0;
    if (Buffer.isBuffer(body)) {
      await this.write(body);
      written = body.length;
    } else if (body) {
      for await (const piece of body) {
        written += piece.length;
        if (written > size) break;
        await this.write(Buffer.from(piece.buffer, piece.byteOffset, piece.length));
      }
    }
    if (written !== size) throw new Error(`${path}: wrote ${written} bytes, expected ${size}`);
    if (size % block) await this.write(Buffer.alloc(block - (size % block)));
  }

  /** The two zero blocks that end an archive. */
  async finish() {
    await this.write(Buffer.alloc(2 * block));
  }
}
