import type { Socket } from 'node:net';
import { DEFAULT_MAX_FRAME, ErrorCode, Flag, FRAME_HEADER, FrameType, frame, H2Error, writeFrameHeader } from './frames.ts';
import { HpackEncoder } from './hpack.ts';
import { MAX_QUEUED_CONTROL } from './limits.ts';
import { type H2Stream, type HeaderBlock, STREAM_HIGH_WATER } from './stream.ts';

/** Bytes the connection may hold unsent before every writer is asked to wait. */
const CONNECTION_HIGH_WATER = 1024 * 1024;
/** A DATA frame up to this size is copied into one buffer with its header. */
const COPY_LIMIT = 4096;

/**
 * The output side of a connection (connection.ts): frames are queued and everything one tick
 * produced goes to the socket in one write. While the socket holds more than it can take, the
 * connection is congested: streams that want to write wait for onDrain, and a server reads no
 * more of a peer that does not read (pauseReadingWhileCongested).
 */
export class FrameWriter {
  /** the largest frame payload the peer accepts (its SETTINGS_MAX_FRAME_SIZE) */
  maxFrame = DEFAULT_MAX_FRAME;
  private readonly encoder = new HpackEncoder();
  private out: Buffer[] = [];
  private outBytes = 0;
  /** replies to the peer's frames in `out` */
  private queuedControl = 0;
  private readonly drainWaiters = new Set<H2Stream>();
  private readingPaused = false;
  private flushScheduled = false;
  private readonly flushNow = () => this.flush();
  /** the connection is closed: nothing more is written */
  private stopped = false;

  constructor(private readonly socket: Socket) {}

  /** Queues bytes for the socket; everything queued in one tick goes in one write. */
  send(buf: Buffer): void {
    if (this.stopped) return;
    this.out.push(buf);
    this.outBytes += buf.length;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(this.flushNow);
    }
  }

  /** A reply the peer's frames call for: counted while it waits, so that a peer that never reads cannot make them pile up. */
  reply(buf: Buffer): void {
    if (++this.queuedControl > MAX_QUEUED_CONTROL) throw new H2Error(ErrorCode.ENHANCE_YOUR_CALM, 'too many replies queued for a peer that does not read');
    this.send(buf);
  }

  /** Hands what is queued to the socket, unless the socket still holds the last batch (`force`: regardless). */
  flush(force = false): void {
    this.flushScheduled = false;
    if (this.stopped || this.out.length === 0) return;
    if (this.socket.writableNeedDrain && !force) return;
    this.queuedControl = 0;
    const out = this.out;
    const bytes = this.outBytes;
    this.out = [];
    this.outBytes = 0;
    if (out.length === 1) this.socket.write(out[0]!);
    else if (bytes <= 64 * 1024) this.socket.write(Buffer.concat(out, bytes));
    else {
      this.socket.cork();
      for (const b of out) this.socket.write(b);
      this.socket.uncork();
    }
    if (!this.socket.writableNeedDrain) this.drained();
  }

  /** Drops what is queued and not yet written (a connection error: the GOAWAY is sent instead). */
  discard(): void {
    this.out = [];
    this.outBytes = 0;
  }

  /** Writes nothing more (the connection is closed). */
  stop(): void {
    this.stopped = true;
  }

  /** Too much is waiting for the socket: writers should wait. */
  get congested(): boolean {
    return this.outBytes + this.socket.writableLength > CONNECTION_HIGH_WATER;
  }

  /** Calls s.onDrain once the connection is no longer congested and the stream has room. */
  waitDrain(s: H2Stream): void {
    this.drainWaiters.add(s);
  }

  /** Calls s.onDrain now if it waits for it and may write again. */
  wake(s: H2Stream): void {
    if (!s.wantDrain || s.queued >= STREAM_HIGH_WATER || this.congested) return;
    this.drainWaiters.delete(s);
    s.wantDrain = false;
    s.onDrain();
  }

  /** The stream is closed. */
  forget(s: H2Stream): void {
    this.drainWaiters.delete(s);
  }

  /**
   * The peer is not reading what we owe it: read no more of it until it has. For a server only:
   * if both ends of a connection did this while sending to each other, neither would read again.
   */
  pauseReadingWhileCongested(): void {
    if (this.congested && !this.readingPaused) {
      this.readingPaused = true;
      this.socket.pause();
    }
  }

  /** The socket took what it held: write on, read on, wake the streams waiting to write. */
  drained(): void {
    if (this.out.length > 0 && !this.flushScheduled) this.flush();
    if (this.congested) return;
    if (this.readingPaused) {
      this.readingPaused = false;
      this.socket.resume();
    }
    if (this.drainWaiters.size === 0) return;
    for (const s of [...this.drainWaiters]) {
      if (s.queued >= STREAM_HIGH_WATER) continue;
      this.drainWaiters.delete(s);
      s.wantDrain = false;
      s.onDrain();
    }
  }

  /** A header block, HPACK-encoded unless it is already, in HEADERS and CONTINUATION frames as large as the peer takes. */
  sendHeaders(id: number, block: HeaderBlock, endStream: boolean): void {
    const encoded = Buffer.isBuffer(block) ? block : this.encoder.encode(block);
    const endFlag = endStream ? Flag.END_STREAM : 0;
    if (encoded.length <= this.maxFrame) {
      this.send(frame(FrameType.HEADERS, endFlag | Flag.END_HEADERS, id, encoded));
      return;
    }
    for (let at = 0; at < encoded.length; at += this.maxFrame) {
      const piece = encoded.subarray(at, at + this.maxFrame);
      const last = at + this.maxFrame >= encoded.length ? Flag.END_HEADERS : 0;
      this.send(at === 0 ? frame(FrameType.HEADERS, endFlag | last, id, piece) : frame(FrameType.CONTINUATION, last, id, piece));
    }
  }

  /** One DATA frame of the first n bytes of the stream's queue, which it takes from the queue. */
  sendData(s: H2Stream, n: number, flags: number): void {
    const queue = s.queue;
    if (n <= COPY_LIMIT) {
      const buf = Buffer.allocUnsafe(FRAME_HEADER + n);
      writeFrameHeader(buf, 0, n, FrameType.DATA, flags, s.id);
      let at = FRAME_HEADER;
      while (at < buf.length) {
        const head = queue[0]!;
        const take = Math.min(head.length, buf.length - at);
        buf.set(take === head.length ? head : head.subarray(0, take), at);
        at += take;
        if (take === head.length) queue.shift();
        else queue[0] = head.subarray(take);
      }
      this.send(buf);
      return;
    }
    const header = Buffer.allocUnsafe(FRAME_HEADER);
    writeFrameHeader(header, 0, n, FrameType.DATA, flags, s.id);
    this.send(header);
    let left = n;
    while (left > 0) {
      const head = queue[0]!;
      if (head.length <= left) {
        queue.shift();
        this.send(head);
        left -= head.length;
      } else {
        this.send(head.subarray(0, left));
        queue[0] = head.subarray(left);
        left = 0;
      }
    }
  }
}
