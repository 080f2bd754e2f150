/** google.protobuf.Timestamp as the loader decodes it (longs as numbers). */
export interface Timestamp {
  seconds: number | string;
  nanos: number;
}

// Go's zero time, which containerd 1.6 encodes for unset non-nullable timestamps.
const goZeroSeconds = -62135596800;

export function toTimestamp(ms: number): Timestamp {
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: Math.round((ms - seconds * 1000) * 1e6) };
}

/** Milliseconds since the epoch, or undefined for an absent or Go-zero timestamp. */
export function fromTimestamp(ts: Timestamp | null | undefined): number | undefined {
  if (!ts) return undefined;
  const seconds = Number(ts.seconds);
  if (seconds === goZeroSeconds || (seconds === 0 && ts.nanos === 0)) return undefined;
  return seconds * 1000 + Math.floor(ts.nanos / 1e6);
}
