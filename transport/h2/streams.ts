import { ErrorCode, H2Error, MAX_WINDOW, rstStreamFrame } from './frames.ts';
import { MAX_QUEUED_DATA, RESET_BURST, RESETS_PER_SECOND, TokenBucket } from './limits.ts';
import type { H2Stream } from './stream.ts';
import type { FrameWriter } from './writer.ts';

/**
 * The open streams of a connection by id, the ids either side has used (RFC 9113 §5.1.1), and
 * the limits on what a peer may open and reset.
 */
export class StreamTable {
  private readonly open = new Map<number, H2Stream>();
  /** the highest stream id the peer opened (server) */
  private lastPeer = 0;
  /** the id of the next stream we open (client) */
  private nextLocal = 1;
  /** streams refused for being over the limits */
  private refused = 0;
  private readonly resets = new TokenBucket(RESET_BURST, RESETS_PER_SECOND);

  constructor(
    private readonly role: 'server' | 'client',
    /** streams the peer may open at once (server) */
    private readonly maxStreams: number,
    private readonly writer: FrameWriter,
  ) {}

  get size(): number {
    return this.open.size;
  }

  /** The highest stream id the peer opened: what a GOAWAY names as the last one processed. */
  get lastPeerStream(): number {
    return this.lastPeer;
  }

  get(id: number): H2Stream | undefined {
    return this.open.get(id);
  }

  values(): Iterable<H2Stream> {
    return this.open.values();
  }

  add(s: H2Stream): void {
    this.open.set(s.id, s);
  }

  /** The stream is closed. */
  forget(s: H2Stream): void {
    this.open.delete(s.id);
  }

  /** The id for a stream we open (client), or undefined once the ids are used up. */
  takeLocalId(): number | undefined {
    const id = this.nextLocal;
    if (id > MAX_WINDOW) return undefined;
    this.nextLocal += 2;
    return id;
  }

  /** A HEADERS frame opens stream `id` (server): a client's ids are odd and grow, or the protocol is broken. */
  takePeerId(id: number): void {
    if (id % 2 === 0) throw new H2Error(ErrorCode.PROTOCOL_ERROR, `client stream id ${id} is even`);
    // a stream id must grow: an old one is a connection error (RFC 9113 §5.1.1)
    if (id <= this.lastPeer) throw new H2Error(ErrorCode.PROTOCOL_ERROR, `HEADERS on stream ${id}, which is closed`);
    this.lastPeer = id;
  }

  /**
   * Whether a new stream of the peer's is refused: too many are open, or the answers it leaves
   * unread (`queuedData`, held back by its windows) count as open streams would. A client may have
   * opened streams before our SETTINGS reached it; one that keeps on is told to go.
   */
  refuse(queuedData: number): boolean {
    if (this.open.size < this.maxStreams && queuedData <= MAX_QUEUED_DATA) return false;
    if (++this.refused > this.maxStreams) throw new H2Error(ErrorCode.ENHANCE_YOUR_CALM, 'streams opened past the limits');
    return true;
  }

  /** A frame on a stream id the peer never opened (or we never did) breaks the protocol. */
  checkKnown(id: number): void {
    const idle = this.role === 'server' ? id > this.lastPeer : id >= this.nextLocal;
    if (idle) throw new H2Error(ErrorCode.PROTOCOL_ERROR, `frame on idle stream ${id}`);
  }

  /** The peer reset a stream. Open streams reset in a loop would pile up work behind them (CVE-2023-44487): their rate is limited. */
  onPeerReset(s: H2Stream | undefined, code: number): void {
    if (!s) return;
    this.countReset();
    s.close(true, code);
  }

  /** Resets a stream for the peer's error on it; these count with the peer's own resets, as a peer could provoke them in a loop. */
  resetForPeer(s: H2Stream | undefined, code: number): void {
    if (!s) return;
    this.countReset();
    this.writer.reply(rstStreamFrame(s.id, code));
    s.close(true, code);
  }

  private countReset(): void {
    if (this.role === 'server' && !this.resets.take()) throw new H2Error(ErrorCode.ENHANCE_YOUR_CALM, 'too many streams reset');
  }

  /** Closes every stream (the connection is gone). */
  closeAll(code: number): void {
    for (const s of [...this.open.values()]) s.close(true, code);
    this.open.clear();
  }
}
