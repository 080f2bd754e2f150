import { once } from 'node:events';
import { Readable, type Writable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { Header } from 'tar';
import { type TarEntry, TarReader } from '../../core/archive/tar.ts';
import { BerthError } from '../../core/errors.ts';

/**
 * Streaming tar for image archives. Entries are read one at a time from the input with
 * backpressure by berth's own reader (core/archive/tar.ts), which gives every header what Go's
 * archive/tar gives it: `docker load` and `ctr import` see the same files (a global PAX header
 * changes no later entry). Archives are written with node-tar's Header and the bytes streamed
 * after it. Nothing is extracted.
 */

const block = 512;

/** An archive entry; its body must be read (or left) before the next entry is asked for. */
export interface ArchiveEntry extends TarEntry {
  body: AsyncIterable<Buffer>;
}

type ReadEvent = { entry: TarEntry } | { data: Buffer } | { end: true };

const notATar = (err: unknown) =>
  err instanceof BerthError && err.code === 'InvalidArgument' ? new Error(`not a valid tar archive: ${err.message.replace(/^invalid archive: /, '')}`) : err;

async function* buffers(source: AsyncIterable<Buffer | string>): AsyncGenerator<Buffer> {
  for await (const piece of source) yield typeof piece === 'string' ? Buffer.from(piece) : piece;
}

/** The input as bytes, gunzipped when it starts as gzip does. */
async function* tarBytes(source: AsyncIterable<Buffer | string>): AsyncGenerator<Buffer> {
  const input = buffers(source);
  const first = await input.next();
  if (first.done) return;
  const head = first.value;
  const rest = (async function* () {
    try {
      yield head;
      yield* input;
    } finally {
      await input.return(undefined);
    }
  })();
  if (head[0] !== 0x1f || head[1] !== 0x8b) {
    yield* rest;
    return;
  }
  const gunzip = createGunzip();
  const compressed = Readable.from(rest);
  compressed.once('error', (err) => gunzip.destroy(err));
  compressed.pipe(gunzip);
  try {
    for await (const chunk of gunzip) yield chunk as Buffer;
  } catch (err) {
    throw (err as NodeJS.ErrnoException).code?.startsWith('Z_') ? new Error(`not a valid tar archive: gzip: ${(err as Error).message}`) : err;
  } finally {
    compressed.destroy();
  }
}

/**
 * The entries of a tar stream (gzipped or not), in order. The consumer reads or leaves each
 * entry's body before asking for the next; a body it leaves is skipped. Breaking out stops
 * reading the input. Only one input chunk is held at a time.
 */
export async function* tarEntries(source: AsyncIterable<Buffer | string>): AsyncGenerator<ArchiveEntry> {
  const events: ReadEvent[] = [];
  const reader = new TarReader({ entry: (entry) => events.push({ entry }), data: (data) => events.push({ data }), end: () => events.push({ end: true }) });
  const input = tarBytes(source);
  let eof = false;
  const next = async (): Promise<ReadEvent | undefined> => {
    while (events.length === 0 && !eof) {
      const r = await input.next();
      try {
        if (r.done) {
          eof = true;
          reader.close();
        } else reader.feed(r.value);
      } catch (err) {
        throw notATar(err);
      }
    }
    return events.shift();
  };
  try {
    for (let ev = await next(); ev; ev = await next()) {
      if (!('entry' in ev)) continue; // the rest of a body left unread
      let over = false;
      const body = async function* () {
        for (let b = over ? undefined : await next(); b && 'data' in b; b = await next()) yield b.data;
        over = true;
      };
      yield { ...ev.entry, body: body() };
    }
  } finally {
    await input.return(undefined);
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
    new Header({
      path,
      mode: mode ?? (dir ? 0o755 : 0o444),
      size: dir ? 0 : size,
      type: dir ? 'Directory' : 'File',
      mtime: new Date(0),
      uid: 0,
      gid: 0,
    }).encode(header);
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
