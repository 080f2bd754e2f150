/**
 * What one peer may make a connection hold or do before it is told to go away
 * (ENHANCE_YOUR_CALM, RFC 9113 §10.5). The figures follow nghttp2's and Go's x/net/http2.
 */

/** Replies (PING and SETTINGS acks, resets) owed to a peer that does not read: Go's maxQueuedControlFrames. */
export const MAX_QUEUED_CONTROL = 10_000;

/** Frames in one header block: HEADERS and its CONTINUATIONs (a 256 KiB block in 16 KiB frames is 16). */
export const MAX_HEADER_BLOCK_FRAMES = 64;

/** DATA the connection may hold for a peer whose windows stay shut before new streams are refused: one largest gRPC message. */
export const MAX_QUEUED_DATA = 16 << 20;

/** Streams the peer may have open at once unless told otherwise (SETTINGS_MAX_CONCURRENT_STREAMS). */
export const DEFAULT_MAX_STREAMS = 1000;

/** Open streams the peer may reset, or make us reset, in a burst, then per second (nghttp2's 1000 and 33). */
export const RESET_BURST = 1000;
export const RESETS_PER_SECOND = 33;

/**
 * A monotonic clock in milliseconds. Not performance.now(): the first use of `performance` loads
 * Node's perf_hooks modules, ~2 ms of CPU for every CLI command that opens a connection.
 */
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

/** A budget that refills with time: take() says whether one more event fits. */
export class TokenBucket {
  private tokens: number;
  private last = nowMs();

  constructor(
    private readonly burst: number,
    private readonly perSecond: number,
  ) {
    this.tokens = burst;
  }

  take(): boolean {
    const now = nowMs();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.perSecond) / 1000);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
