import { ByteQueue } from '../h2/byte-queue.ts';
import { GrpcStatus } from './status.ts';

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
 * The bytes of received messages that the calls of one connection may hold before their
 * handlers take them: partial messages, and whole ones (inflated) not taken yet.
 */
export class ReceiveBudget {
  held = 0;
  constructor(readonly limit: number) {}
}

/** Inflates a compressed message to at most maxLength bytes; throws a status error. */
export type Decompress = (body: Buffer, maxLength: number) => Buffer;

/**
 * Splits a stream of DATA chunks into messages. Chunks are kept as they come and joined once
 * per message, so a large message arriving in many small frames costs one copy, not one per
 * frame. A message over `maxMessageSize` is refused as soon as its prefix is read. With a
 * budget, what the reader holds (its partial message, and the messages it gave out until
 * release()) counts in it, and a message that would take it over is refused (RESOURCE_EXHAUSTED).
 */
export class MessageReader {
  private readonly queue = new ByteQueue();
  /** bytes this reader has counted in the budget */
  private counted = 0;

  constructor(
    private readonly maxMessageSize: number,
    /** turns a compressed message into its bytes; none: compressed messages are refused */
    private readonly decompress?: Decompress,
    private readonly budget = new ReceiveBudget(Infinity),
  ) {}

  /** The messages completed by `chunk`; throws a status error for a bad one. */
  push(chunk: Buffer): Buffer[] {
    const queue = this.queue;
    queue.push(chunk);
    this.hold(chunk.length);
    const out: Buffer[] = [];
    while (queue.length >= 5) {
      const head = queue.peek(5);
      const size = head.readUInt32BE(1);
      if (size > this.maxMessageSize) throw statusError(GrpcStatus.RESOURCE_EXHAUSTED, `Received message larger than max (${size} vs. ${this.maxMessageSize})`);
      if (queue.length < 5 + size) break;
      const compressed = head[0] !== 0;
      const body = queue.take(5 + size).subarray(5);
      this.release(5);
      if (!compressed) out.push(body);
      else if (this.decompress) {
        this.release(size);
        const room = Math.min(this.maxMessageSize, this.budget.limit - this.budget.held);
        const inflated = this.decompress(body, Math.max(0, room));
        this.hold(inflated.length);
        out.push(inflated);
      } else throw statusError(GrpcStatus.INTERNAL, 'compressed messages are not supported');
    }
    return out;
  }

  private hold(n: number): void {
    this.counted += n;
    this.budget.held += n;
    if (this.budget.held > this.budget.limit)
      throw statusError(GrpcStatus.RESOURCE_EXHAUSTED, `Received messages over the connection's budget of ${this.budget.limit} bytes`);
  }

  /** The caller has handed n bytes of the messages it got on (or dropped them). */
  release(n: number): void {
    this.counted -= n;
    this.budget.held -= n;
  }

  /** Gives everything back to the budget: the call is over. */
  dispose(): void {
    this.budget.held -= this.counted;
    this.counted = 0;
  }

  /** Nothing is left over: the stream ended on a message boundary. */
  get empty(): boolean {
    return this.queue.length === 0;
  }
}

/** The longest delay a Node.js timer takes (2^31-1 ms, ~24.8 days): a longer one fires at once. */
const MAX_TIMER = 2 ** 31 - 1;

/** A delay for setTimeout: a deadline further away than timers reach ends there instead. */
export const timerDelay = (ms: number) => Math.min(Math.max(0, ms), MAX_TIMER);

const timeoutUnits: Array<[string, number]> = [
  ['n', 1e-6],
  ['u', 1e-3],
  ['m', 1],
  ['S', 1000],
  ['M', 60_000],
  ['H', 3_600_000],
];

/** A grpc-timeout header value in milliseconds, or undefined when it is not one. */
export function parseGrpcTimeout(value: string | string[] | undefined): number | undefined {
  const m = typeof value === 'string' ? /^(\d{1,8})([HMSmun])$/.exec(value) : null;
  return m ? Number(m[1]) * timeoutUnits.find(([unit]) => unit === m[2])![1] : undefined;
}

/** `ms` as a grpc-timeout value: at most 8 digits, so a long deadline goes in a coarser unit (rounded up). */
export function grpcTimeout(ms: number): string {
  for (const [unit, size] of timeoutUnits.slice(2)) {
    const n = Math.max(1, Math.ceil(ms / size));
    if (n < 1e8) return `${n}${unit}`;
  }
  return '99999999H';
}
