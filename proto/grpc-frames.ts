import { GrpcStatus } from './errors.ts';
import { ByteQueue } from './h2/byte-queue.ts';

/**
 * gRPC's message framing over HTTP/2, for the server (grpc-server.ts) and the unary client
 * (channel.ts): each message is a compressed-flag byte, a 32-bit big-endian length, then
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
  private readonly queue = new ByteQueue();

  constructor(
    private readonly maxMessageSize: number,
    /** turns a compressed message into its bytes; none: compressed messages are refused */
    private readonly decompress?: (body: Buffer) => Buffer,
  ) {}

  /** The messages completed by `chunk`; throws a status error for a bad one. */
  push(chunk: Buffer): Buffer[] {
    const queue = this.queue;
    queue.push(chunk);
    const out: Buffer[] = [];
    while (queue.length >= 5) {
      const head = queue.peek(5);
      const size = head.readUInt32BE(1);
      if (size > this.maxMessageSize) throw statusError(GrpcStatus.RESOURCE_EXHAUSTED, `Received message larger than max (${size} vs. ${this.maxMessageSize})`);
      if (queue.length < 5 + size) break;
      const compressed = head[0] !== 0;
      const body = queue.take(5 + size).subarray(5);
      if (!compressed) out.push(body);
      else if (this.decompress) out.push(this.decompress(body));
      else throw statusError(GrpcStatus.INTERNAL, 'compressed messages are not supported');
    }
    return out;
  }

  /** Nothing is left over: the stream ended on a message boundary. */
  get empty(): boolean {
    return this.queue.length === 0;
  }
}
