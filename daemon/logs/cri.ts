// The CRI log format berth-monitor writes (docs/monitor.md, "Container log"): one record per
// line, `TIMESTAMP STREAM TAG CONTENT`, TAG P for a partial line continued by the stream's next
// record and F for the record that ends it.

export type Stream = 'stdout' | 'stderr';

export interface LogRecord {
  /** nanoseconds since the epoch */
  timeNs: bigint;
  stream: Stream;
  partial: boolean;
  content: Buffer;
}

const space = 0x20;

/** Nanoseconds since the epoch of an RFC 3339 time with up to nine fractional digits; undefined if it is not one. */
export function parseTimeNs(text: string): bigint | undefined {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(text);
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(ms)) return undefined;
  return BigInt(ms) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}

/** One record of a log file (the line without its newline); undefined for a line that is not one. */
export function parseRecord(line: Buffer): LogRecord | undefined {
  const a = line.indexOf(space);
  const b = a < 0 ? -1 : line.indexOf(space, a + 1);
  const c = b < 0 ? -1 : line.indexOf(space, b + 1);
  if (c < 0 && !(b > 0 && line.length === b + 2)) return undefined;
  const timeNs = parseTimeNs(line.toString('latin1', 0, a));
  const stream = line.toString('latin1', a + 1, b);
  const tag = line.toString('latin1', b + 1, c < 0 ? line.length : c);
  if (timeNs === undefined || (stream !== 'stdout' && stream !== 'stderr') || (tag !== 'P' && tag !== 'F')) return undefined;
  return { timeNs, stream, partial: tag === 'P', content: c < 0 ? Buffer.alloc(0) : line.subarray(c + 1) };
}

/** `2026-12-07T04:11:23.123000000Z`: the log's RFC 3339 time with nine fractional digits. */
const timestamp = () => new Date().toISOString().replace('Z', '000000Z');

/**
 * The records for what one read of a stream gave, as berth-monitor writes them: each line a
 * record (F), an unfinished line's piece P, and no record holding more than `maxLine` bytes of a
 * line (0: no bound).
 */
export function formatRecords(stream: Stream, chunk: Buffer, maxLine: number): Buffer {
  const head = `${timestamp()} ${stream} `;
  const records: Buffer[] = [];
  let start = 0;
  while (start < chunk.length) {
    const nl = chunk.indexOf(0x0a, start);
    let end = nl < 0 ? chunk.length : nl;
    let full = nl >= 0;
    if (maxLine > 0 && end - start > maxLine) {
      end = start + maxLine;
      full = false;
    }
    records.push(Buffer.from(`${head}${full ? 'F' : 'P'} `), chunk.subarray(start, end), Buffer.from('\n'));
    start = full ? end + 1 : end;
  }
  return Buffer.concat(records);
}
