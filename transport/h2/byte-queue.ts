/**
 * Bytes arriving in chunks, read back in pieces of known size. Chunks are kept as they come and
 * joined only when a piece straddles them, so a large piece arriving in many small chunks costs
 * one copy, and a small piece inside one chunk costs none.
 */
export class ByteQueue {
  private chunks: Buffer[] = [];
  /** bytes held */
  length = 0;

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  /** The first n bytes (n ≤ length), without taking them. */
  peek(n: number): Buffer {
    if (this.chunks[0]!.length < n) {
      let joined = 0;
      let k = 0;
      while (joined < n) joined += this.chunks[k++]!.length;
      this.chunks.splice(0, k, Buffer.concat(this.chunks.slice(0, k), joined));
    }
    return this.chunks[0]!.subarray(0, n);
  }

  /** Takes the first n bytes (n ≤ length). */
  take(n: number): Buffer {
    const first = this.peek(n);
    const rest = this.chunks[0]!.subarray(n);
    if (rest.length === 0) this.chunks.shift();
    else this.chunks[0] = rest;
    this.length -= n;
    return first;
  }
}
