import { DEFAULT_WINDOW, ErrorCode, Flag, FrameType, frame, H2Error, MAX_WINDOW, windowUpdateFrame } from './frames.ts';
import type { H2Stream } from './stream.ts';
import type { FrameWriter } from './writer.ts';

/**
 * Flow control of a connection (RFC 9113 §5.2), the connection's level of it: the peer's window
 * for all our DATA, our window for all of the peer's, and the streams' DATA waiting for window.
 * Each stream keeps its own two windows (stream.ts); DATA goes out as far as both allow.
 */
export class FlowControl {
  /** the window each stream we send on starts with (the peer's SETTINGS_INITIAL_WINDOW_SIZE) */
  peerInitialWindow = DEFAULT_WINDOW;
  /** DATA queued in the streams, waiting for window */
  queuedInStreams = 0;
  private sendWindow = DEFAULT_WINDOW;
  private recvWindow: number;
  /** bytes of the peer's DATA consumed and not yet given back */
  private recvUnacked = 0;
  /** streams with DATA queued and no window for it */
  private readonly blocked = new Set<H2Stream>();

  /** `connectionWindow`: the receive window of the whole connection (what our SETTINGS announced) */
  constructor(
    private readonly writer: FrameWriter,
    private readonly connectionWindow: number,
  ) {
    this.recvWindow = connectionWindow;
  }

  /** Sends what the stream has queued, as far as both windows allow, then its end. */
  pump(s: H2Stream): void {
    while (s.queued > 0) {
      const room = Math.min(s.sendWindow, this.sendWindow, this.writer.maxFrame);
      if (room <= 0) {
        this.blocked.add(s);
        return;
      }
      const n = Math.min(room, s.queued);
      const endHere = n === s.queued && s.localEnded && s.trailers === undefined;
      if (endHere) s.finSent = true;
      this.writer.sendData(s, n, endHere ? Flag.END_STREAM : 0);
      s.sendWindow -= n;
      this.sendWindow -= n;
      s.queued -= n;
      this.queuedInStreams -= n;
    }
    this.blocked.delete(s);
    if (s.localEnded) {
      if (!s.finSent) {
        s.finSent = true;
        if (s.trailers !== undefined) this.writer.sendHeaders(s.id, s.trailers, true);
        else this.writer.send(frame(FrameType.DATA, Flag.END_STREAM, s.id));
      }
      s.afterLocalEnd();
    } else this.writer.wake(s);
  }

  /** Pumps the streams that waited for window. */
  pumpBlocked(): void {
    for (const s of [...this.blocked]) if (!s.closed) this.pump(s);
  }

  /** The stream is closed. */
  forget(s: H2Stream): void {
    this.blocked.delete(s);
  }

  /** The peer's DATA of `length` bytes (padding included) arrived: it takes from the connection window. */
  receive(length: number): void {
    this.recvWindow -= length;
    if (this.recvWindow < 0) throw new H2Error(ErrorCode.FLOW_CONTROL_ERROR, 'DATA beyond the connection window');
  }

  /** Gives consumed bytes back to the peer's connection window, in updates of at least half of it. */
  credit(n: number): void {
    this.recvUnacked += n;
    if (this.recvUnacked < this.connectionWindow / 2) return;
    this.writer.send(windowUpdateFrame(0, this.recvUnacked));
    this.recvWindow += this.recvUnacked;
    this.recvUnacked = 0;
  }

  /** WINDOW_UPDATE on stream 0. */
  growConnectionWindow(increment: number): void {
    if (increment === 0) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0');
    this.sendWindow += increment;
    if (this.sendWindow > MAX_WINDOW) throw new H2Error(ErrorCode.FLOW_CONTROL_ERROR, 'connection window over 2^31-1');
    this.pumpBlocked();
  }

  /** The peer's SETTINGS_INITIAL_WINDOW_SIZE changed: every open stream's send window moves by the difference. */
  setPeerInitialWindow(value: number, streams: Iterable<H2Stream>): void {
    const delta = value - this.peerInitialWindow;
    this.peerInitialWindow = value;
    if (delta === 0) return;
    for (const s of streams) {
      s.sendWindow += delta;
      if (s.sendWindow > MAX_WINDOW) throw new H2Error(ErrorCode.FLOW_CONTROL_ERROR, 'a stream window over 2^31-1');
    }
  }
}
