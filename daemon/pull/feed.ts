import * as fs from 'node:fs';
import type { GrowingBlob } from '../diff/unpacker.ts';

/**
 * A blob while its download is still being written into a content ingest, so that a layer can
 * be applied as it arrives. It holds its own descriptor of the ingest's data file (which stays
 * valid when the commit renames the file into the blob store) and says how far the writer has
 * got; the end is known only when the writer says the blob is complete and verified, and a
 * failed download fails it. Nothing read from it is trusted before then: the caller keeps the
 * result of an apply only once the blob is committed.
 */
export class BlobFeed implements GrowingBlob {
  readonly fd: number;
  written: number;
  state: 'writing' | 'complete' | 'failed' = 'writing';
  failure: Error | undefined;
  private watcher: (() => void) | undefined;
  private closed = false;

  constructor(path: string, written: number) {
    // synchronous on purpose: the commit cannot rename the file between our look and the open
    this.fd = fs.openSync(path, 'r');
    this.written = written;
  }

  /** The writer reached this offset. */
  wrote(offset: number) {
    this.written = offset;
    this.watcher?.();
  }

  /** The blob is committed: its digest and size are verified. */
  complete() {
    this.state = 'complete';
    this.watcher?.();
  }

  get failed(): boolean {
    return this.state === 'failed';
  }

  fail(err: Error) {
    if (this.state !== 'writing') return;
    this.state = 'failed';
    this.failure = err;
    this.watcher?.();
  }

  watch(onChange: () => void): () => void {
    this.watcher = onChange;
    return () => {
      if (this.watcher === onChange) this.watcher = undefined;
    };
  }

  /** Closes the descriptor, once the apply that read it is over. */
  release() {
    if (this.closed) return;
    this.closed = true;
    fs.close(this.fd, () => undefined);
  }
}
