import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import {
  type Control,
  dataFrame,
  decodeHeaderBlock,
  defaultWindow,
  encodeHeaderBlock,
  FrameReader,
  flagFin,
  flagUnidirectional,
  GoAwayStatus,
  goAwayFrame,
  HeaderDeflater,
  HeaderInflater,
  type Headers,
  maxWindow,
  parseControl,
  pingFrame,
  RstStatus,
  rstStreamFrame,
  SettingId,
  SpdyProtocolError,
  spdyVersion,
  synReplyFrame,
  windowUpdateFrame,
} from './frames.ts';

export interface SessionLimits {
  /** the largest frame read (its length field) */
  maxFrame: number;
  /** the largest header block once inflated */
  maxHeaderBlock: number;
  /** streams open at once; more are refused (RST_STREAM REFUSED_STREAM) */
  maxStreams: number;
  /** no frame either way for this long closes the session */
  idleTimeoutMs: number;
}

export const defaultLimits: SessionLimits = { maxFrame: 1 << 20, maxHeaderBlock: 64 * 1024, maxStreams: 64, idleTimeoutMs: 4 * 3600 * 1000 };

/** The most bytes of one DATA frame berth sends. */
const maxDataPayload = 32 * 1024;

/**
 * One stream of a SPDY session, opened by the peer: a Duplex whose readable side is what the peer
 * sends (ended by its FIN) and whose writable side becomes DATA frames (end() sends FIN).
 */
export class SpdyStream extends Duplex {
  /** what the peer may still send us before we tell it more (WINDOW_UPDATE) */
  private recvUnacked = 0;
  /** what we may still send (the peer's window for this stream) */
  sendWindow: number;
  private waiting: (() => void) | undefined;
  remoteClosed = false;
  localClosed = false;
  reset = false;

  constructor(
    private readonly session: SpdySession,
    readonly id: number,
    readonly headers: Headers,
    sendWindow: number,
  ) {
    super({ allowHalfOpen: true, highWaterMark: 64 * 1024 });
    this.sendWindow = sendWindow;
  }

  /** One header's value ('' when absent). */
  header(name: string): string {
    return this.headers.get(name)?.[0] ?? '';
  }

  override _read(): void {
    this.session.resumeReading();
  }

  /** Data from the peer: false when the reader is full (the session stops reading the socket). */
  received(data: Buffer): boolean {
    this.recvUnacked += data.length;
    if (this.recvUnacked >= defaultWindow / 2) {
      this.session.send(windowUpdateFrame(this.id, this.recvUnacked));
      this.recvUnacked = 0;
    }
    return this.push(data);
  }

  remoteFin(): void {
    this.remoteClosed = true;
    this.push(null);
    this.maybeDone();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.sendData(chunk).then(() => cb(), cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.reset || this.localClosed) {
      cb();
      return;
    }
    this.localClosed = true;
    this.session.send(dataFrame(this.id, flagFin, Buffer.alloc(0)));
    this.maybeDone();
    cb();
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    if (!this.reset && !(this.localClosed && this.remoteClosed)) {
      this.reset = true;
      this.session.send(rstStreamFrame(this.id, RstStatus.cancel));
    }
    this.session.forget(this);
    this.waiting?.();
    cb(err);
  }

  private async sendData(chunk: Buffer): Promise<void> {
    for (let at = 0; at < chunk.length; ) {
      if (this.reset) throw new Error('the stream was reset');
      const room = this.session.sendRoom(this);
      if (room <= 0) {
        await new Promise<void>((resolve) => (this.waiting = resolve));
        this.waiting = undefined;
        continue;
      }
      const piece = chunk.subarray(at, at + Math.min(room, maxDataPayload));
      this.session.spend(this, piece.length);
      await this.session.sendAndDrain(dataFrame(this.id, 0, piece));
      at += piece.length;
    }
  }

  /** A window grew: a write waiting for room goes on. */
  windowGrew(): void {
    this.waiting?.();
  }

  /** The peer reset the stream. */
  resetByPeer(): void {
    this.reset = true;
    this.destroy(new Error('the stream was reset by the peer'));
  }

  private maybeDone(): void {
    if (this.localClosed && this.remoteClosed) this.session.forget(this);
  }
}

/**
 * The server side of a SPDY/3.1 session on an upgraded HTTP connection (SPDY Protocol Draft
 * 3.1): the peer opens streams (odd ids, increasing), berth answers each with SYN_REPLY and emits
 * 'stream'. PING is answered, SETTINGS read, GOAWAY ends the session, and flow control is kept:
 * berth tells the peer of room with WINDOW_UPDATE as it reads, and keeps to the peer's windows
 * once the peer shows it does flow control (it sent WINDOW_UPDATE or SETTINGS): spdystream, the
 * library the kubelet, kubectl and crictl use, does neither and would stall after 64 KiB. What
 * bounds memory is the socket: reading stops while a stream's reader is full.
 *
 * A bad frame resets its stream (RST_STREAM) or, when the session cannot go on, ends it (GOAWAY);
 * it never throws out of here. Events: 'stream' (SpdyStream), 'close'.
 */
export class SpdySession extends EventEmitter {
  private readonly reader: FrameReader;
  private readonly inflater: HeaderInflater;
  private readonly deflater = new HeaderDeflater();
  private readonly streams = new Map<number, SpdyStream>();
  private lastStreamId = 0;
  private chain: Promise<void> = Promise.resolve();
  private pending = 0;
  private closed = false;
  private goneAway = false;
  /** the peer does flow control: keep to its windows */
  private peerFlowControl = false;
  private initialSendWindow = defaultWindow;
  private sessionSendWindow = defaultWindow;
  private sessionRecvUnacked = 0;
  private paused = false;
  /** a frame the session cannot read past came: nothing after it is read */
  private broken = false;

  constructor(
    private readonly socket: Socket,
    private readonly limits: SessionLimits = defaultLimits,
  ) {
    super();
    this.reader = new FrameReader(limits.maxFrame);
    this.inflater = new HeaderInflater(limits.maxHeaderBlock);
    socket.setNoDelay(true);
    socket.setTimeout(limits.idleTimeoutMs, () => this.goAway(GoAwayStatus.ok, 'idle'));
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => this.destroy());
    socket.on('close', () => this.destroy());
    socket.on('end', () => this.destroy());
  }

  /** Bytes already read past the HTTP upgrade. */
  feed(head: Buffer): void {
    if (head.length > 0) this.onData(head);
  }

  get openStreams(): number {
    return this.streams.size;
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    this.reader.push(chunk);
    while (!this.broken) {
      let frame: ReturnType<FrameReader['next']>;
      let refused: Error | undefined;
      try {
        frame = this.reader.next();
      } catch (err) {
        // answered in its turn, after the frames before it
        refused = err as Error;
        if (!(err instanceof SpdyProtocolError && err.streamId)) this.broken = true;
      }
      if (!frame && !refused) break;
      const f = frame;
      this.pending++;
      this.chain = this.chain
        .then(() => {
          if (this.closed) return undefined;
          if (refused instanceof SpdyProtocolError && refused.streamId && !this.streams.has(refused.streamId)) {
            // too large, and for no open stream: not SPDY (or lost in it); the session cannot go on
            throw new SpdyProtocolError(`${refused.message} for stream ${refused.streamId}, which is not open`);
          }
          if (refused) throw refused;
          return f!.data ? this.onDataFrame(f!.streamId, f!.flags, f!.payload) : this.onControl(f!);
        })
        .catch((err: Error) => this.protocolError(err))
        .finally(() => {
          this.pending--;
          if (this.paused && this.pending < 16 && !this.anyFull()) this.resumeReading();
        });
    }
    // frames whose header blocks wait for the inflater pile up: stop reading meanwhile
    if (this.pending >= 64 || this.reader.buffered > this.limits.maxFrame + 16) this.pauseReading();
  }

  private anyFull(): boolean {
    for (const s of this.streams.values()) if (s.readableLength >= s.readableHighWaterMark) return true;
    return false;
  }

  private pauseReading(): void {
    if (!this.paused) {
      this.paused = true;
      this.socket.pause();
    }
  }

  resumeReading(): void {
    if (this.paused && !this.closed && this.pending < 16 && !this.anyFull()) {
      this.paused = false;
      this.socket.resume();
    }
  }

  private protocolError(err: Error): void {
    if (err instanceof SpdyProtocolError && err.streamId !== undefined && err.streamId !== 0) {
      this.send(rstStreamFrame(err.streamId, err.status));
      const s = this.streams.get(err.streamId);
      if (s) {
        s.reset = true;
        s.destroy(new Error(err.message));
      }
      this.emit('protocolError', err);
      return;
    }
    this.emit('protocolError', err);
    this.goAway(err instanceof SpdyProtocolError ? GoAwayStatus.protocolError : GoAwayStatus.internalError, err.message);
  }

  private onDataFrame(streamId: number, flags: number, payload: Buffer): void {
    const s = this.streams.get(streamId);
    this.sessionRecvUnacked += payload.length;
    if (this.sessionRecvUnacked >= defaultWindow / 2) {
      this.send(windowUpdateFrame(0, this.sessionRecvUnacked));
      this.sessionRecvUnacked = 0;
    }
    if (!s) throw new SpdyProtocolError(`DATA for stream ${streamId}, which is not open`, streamId, RstStatus.invalidStream);
    if (s.remoteClosed) throw new SpdyProtocolError(`DATA on stream ${streamId} after its FIN`, streamId, RstStatus.streamAlreadyClosed);
    if (payload.length > 0 && !s.received(payload)) this.pauseReading();
    if (flags & flagFin) s.remoteFin();
  }

  private async onControl(f: { version: number; type: number; flags: number; payload: Buffer }): Promise<void> {
    if (f.version !== spdyVersion) throw new SpdyProtocolError(`a control frame of SPDY version ${f.version}`);
    const c = parseControl(f as Parameters<typeof parseControl>[0]);
    switch (c.type) {
      case 'synStream':
        return this.onSynStream(c);
      case 'synReply':
      case 'headers': {
        // inflated all the same: the compression context is shared by every block
        await this.inflater.decompress(c.headerBlock);
        if (c.type === 'synReply')
          throw new SpdyProtocolError(`SYN_REPLY for stream ${c.streamId}, which berth did not open`, c.streamId, RstStatus.protocolError);
        const s = this.streams.get(c.streamId);
        if (!s) throw new SpdyProtocolError(`HEADERS for stream ${c.streamId}, which is not open`, c.streamId, RstStatus.invalidStream);
        if (c.flags & flagFin) s.remoteFin();
        return;
      }
      case 'rstStream':
        this.streams.get(c.streamId)?.resetByPeer();
        return;
      case 'settings':
        return this.onSettings(c.entries);
      case 'ping':
        // the peer's pings (odd ids, from a client) come back; answers to ours are not expected
        if (c.id % 2 === 1) this.send(pingFrame(c.id));
        return;
      case 'goAway':
        this.goneAway = true;
        this.destroy();
        return;
      case 'windowUpdate':
        return this.onWindowUpdate(c.streamId, c.delta);
      case 'unknown':
        return;
    }
  }

  private async onSynStream(c: Extract<Control, { type: 'synStream' }>): Promise<void> {
    const block = await this.inflater.decompress(c.headerBlock);
    const id = c.streamId;
    if (id === 0 || id % 2 === 0) throw new SpdyProtocolError(`SYN_STREAM with stream id ${id} (a client's are odd)`);
    if (this.streams.has(id)) throw new SpdyProtocolError(`SYN_STREAM for stream ${id}, open already`, id, RstStatus.streamInUse);
    if (id <= this.lastStreamId) throw new SpdyProtocolError(`SYN_STREAM with stream id ${id} after ${this.lastStreamId}`);
    this.lastStreamId = id;
    const headers = decodeHeaderBlock(block, id);
    if (this.goneAway) throw new SpdyProtocolError(`SYN_STREAM ${id} after GOAWAY`, id, RstStatus.refusedStream);
    if (this.streams.size >= this.limits.maxStreams) throw new SpdyProtocolError(`more than ${this.limits.maxStreams} streams`, id, RstStatus.refusedStream);
    const s = new SpdyStream(this, id, headers, this.initialSendWindow);
    this.streams.set(id, s);
    this.send(synReplyFrame(id, 0, this.deflater.deflate(encodeHeaderBlock([]))));
    if (c.flags & flagUnidirectional) {
      s.localClosed = true;
    }
    this.emit('stream', s);
    if (c.flags & flagFin) s.remoteFin();
  }

  private onSettings(entries: Array<{ id: number; value: number }>): void {
    for (const e of entries) {
      if (e.id !== SettingId.initialWindowSize) continue;
      if (e.value > maxWindow) throw new SpdyProtocolError(`SETTINGS INITIAL_WINDOW_SIZE ${e.value}`);
      const grow = e.value - this.initialSendWindow;
      this.initialSendWindow = e.value;
      for (const s of this.streams.values()) {
        s.sendWindow += grow;
        s.windowGrew();
      }
      this.peerFlowControl = true;
    }
  }

  private onWindowUpdate(streamId: number, delta: number): void {
    if (delta === 0) throw new SpdyProtocolError(`WINDOW_UPDATE of 0`, streamId || undefined, RstStatus.flowControlError);
    this.peerFlowControl = true;
    if (streamId === 0) {
      if (this.sessionSendWindow + delta > maxWindow) throw new SpdyProtocolError('the session window grew past 2^31-1');
      this.sessionSendWindow += delta;
      for (const s of this.streams.values()) s.windowGrew();
      return;
    }
    const s = this.streams.get(streamId);
    if (!s) return; // a stream that ended meanwhile
    if (s.sendWindow + delta > maxWindow) throw new SpdyProtocolError(`stream ${streamId}'s window grew past 2^31-1`, streamId, RstStatus.flowControlError);
    s.sendWindow += delta;
    s.windowGrew();
  }

  /** How much stream s may send now. */
  sendRoom(s: SpdyStream): number {
    if (this.closed) return Number.POSITIVE_INFINITY;
    if (!this.peerFlowControl) return Number.POSITIVE_INFINITY;
    return Math.min(s.sendWindow, this.sessionSendWindow);
  }

  spend(s: SpdyStream, n: number): void {
    s.sendWindow -= n;
    this.sessionSendWindow -= n;
  }

  send(frame: Buffer): void {
    if (!this.closed && !this.socket.destroyed) this.socket.write(frame);
  }

  /** Sends a frame and resolves once the socket takes more (its buffer drained). */
  sendAndDrain(frame: Buffer): Promise<void> {
    if (this.closed || this.socket.destroyed) return Promise.reject(new Error('the session is closed'));
    if (this.socket.write(frame)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = () => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        this.closed ? reject(new Error('the session is closed')) : resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }

  forget(s: SpdyStream): void {
    if (this.streams.get(s.id) === s) this.streams.delete(s.id);
  }

  /** Ends the session: GOAWAY (with the last stream id seen), then the socket once written. */
  goAway(status: number = GoAwayStatus.ok, _why = ''): void {
    if (this.closed) return;
    this.send(goAwayFrame(this.lastStreamId, status));
    this.goneAway = true;
    this.socket.end();
    this.destroy();
  }

  /** Drops every stream and the socket (after what was written is flushed, when it ends cleanly). */
  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of [...this.streams.values()]) {
      s.reset = true;
      s.destroy();
    }
    this.streams.clear();
    this.inflater.close();
    if (!this.socket.writableEnded) this.socket.end();
    // a peer that never reads what is left must not hold the socket forever
    setTimeout(() => this.socket.destroy(), 5000).unref();
    this.emit('close');
  }
}
