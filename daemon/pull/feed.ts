import * as fs from 'node:fs';
import { Readable } from 'node:stream';

/**
 * The bytes of a blob while its download is still being written into a content ingest, so that
 * a layer can be applied as it arrives. The reader follows the ingest's data file (its own
 * descriptor, which stays valid when the commit renames the file into the blob store) up to the
 * offset the writer has reached, and ends only when the writer says the blob is complete and
 * verified; a failed download makes the reader fail. Nothing read here is trusted before then:
 * the caller keeps the result of an apply only once the blob is committed.
 */
export class BlobFeed {
  private written: number;
  private state: 'writing' | 'complete' | 'failed' = 'writing';
  private failure: Error | undefined;
  private wake: (() => void) | undefined;
  private readonly fd: number;
  private taken = false;
  private closed = false;

  constructor(path: string, written: number) {
    // synchronous on purpose: the commit cannot rename the file between our look and the open
    this.fd = fs.openSync(path, 'r');
    this.written = written;
  }

  /** The writer reached this offset. */
  wrote(offset: number) {
    this.written = offset;
    this.notify();
  }

  /** The blob is committed: its digest and size are verified. */
  complete() {
    this.state = 'complete';
    this.notify();
  }

  get failed(): boolean {
    return this.state === 'failed';
  }

  fail(err: Error) {
    if (this.state !== 'writing') return;
    this.state = 'failed';
    this.failure = err;
    this.notify();
  }

  private notify() {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /**
   * Closes the descriptor of a feed whose stream was never taken. A taken stream closes it
   * itself when it ends or is destroyed (after any read in flight, never under one).
   */
  release() {
    if (this.taken) return;
    this.taken = true;
    this.close();
  }

  private close() {
    if (this.closed) return;
    this.closed = true;
    fs.close(this.fd, () => undefined);
  }

  /** The blob's bytes from the start, as they are written; read it once. */
  stream(): Readable {
    if (this.taken) throw new Error('a blob feed is read once');
    this.taken = true;
    const feed = this;
    return Readable.from(
      (async function* () {
        let at = 0;
        try {
          for (;;) {
            if (feed.state === 'failed') throw feed.failure!;
            if (at < feed.written) {
              const buf = Buffer.allocUnsafe(Math.min(1 << 20, feed.written - at));
              const n = await new Promise<number>((resolve, reject) => fs.read(feed.fd, buf, 0, buf.length, at, (err, bytes) => (err ? reject(err) : resolve(bytes))));
              if (n === 0) throw new Error(`the ingest ended at ${at} bytes, short of the ${feed.written} written`);
              at += n;
              yield n === buf.length ? buf : buf.subarray(0, n);
              continue;
            }
            if (feed.state === 'complete') return;
            await new Promise<void>((resolve) => (feed.wake = resolve));
          }
        } finally {
          feed.close();
        }
      })(),
      { objectMode: false },
    );
  }
}
