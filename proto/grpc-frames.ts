import { GrpcStatus } from './errors.ts';

/**
 * gRPC's message framing over HTTP/2, for the server (grpc-server.ts) and the unary client
 * (unary-channel.ts): each message is a compressed-flag byte, a 32-bit big-endian length, then
 * the bytes.
 */

/** The 5-byte prefix of an uncompressed message of `length` bytes. */
export function framePrefix(length: number): Buffer {
  const head = Buffer.allocUnsafe(5);
  head[0] = 0;
  head.writeUInt32BE(length, 1);
  return head;
}

/** A gRPC status as a thrown value: {code, details}, the shape toGrpc and fromGrpc read. */
export const statusError = (code: number, details: string) => Object.assign(new Error(details), { code, details });

/**
 * Splits a stream of DATA chunks into messages. Chunks are kept as they come and joined once
 * per message, so a large message arriving in many small frames costs one copy, not one per
 * frame. A message over `maxMessageSize` is refused as soon as its prefix is read.
 */
export class MessageReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(
    private readonly maxMessageSize: number,
    /** turns a compressed message into its bytes; none: compressed messages are refused */
    private readonly decompress?: (body: Buffer) => Buffer,
  ) {}

  /** The messages completed by `chunk`; throws a status error for a bad one. */
  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const out: Buffer[] = [];
    while (this.buffered >= 5) {
      const head = this.peek(5);
      const size = head.readUInt32BE(1);
      if (size > this.maxMessageSize) throw statusError(GrpcStatus.RESOURCE_EXHAUSTED, `Received message larger than max (${size} vs. ${this.maxMessageSize})`);
      if (this.buffered < 5 + size) break;
      const body = this.take(5 + size).subarray(5);
      if (head[0] === 0) out.push(body);
      else if (this.decompress) out.push(this.decompress(body));
      else throw statusError(GrpcStatus.INTERNAL, 'compressed messages are not supported');
    }
    return out;
  }

  /** Nothing is left over: the stream ended on a message boundary. */
  get empty(): boolean {
    return this.buffered === 0;
  }

  /** The first n buffered bytes, joining chunks only as far as needed. */
  private peek(n: number): Buffer {
    if (this.chunks[0]!.length < n) {
      let joined = 0;
      let k = 0;
      while (joined < n) joined += this.chunks[k++]!.length;
      this.chunks.splice(0, k, Buffer.concat(this.chunks.slice(0, k), joined));
    }
    return this.chunks[0]!.subarray(0, n);
  }

  private take(n: number): Buffer {
    const first = this.peek(n);
    const rest = this.chunks[0]!.subarray(n);
    this.chunks[0] = rest;
    if (rest.length === 0) this.chunks.shift();
    this.buffered -= n;
    return first;
  }
}
