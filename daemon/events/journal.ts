import { closeSync, promises as fs, fstatSync, ftruncateSync, openSync, readdirSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { AnyMessage } from '../../core/any.ts';

/** An event as the journal keeps it: the envelope and its place in the sequence. */
export interface JournalRecord {
  seq: number;
  /** milliseconds since the epoch */
  timestamp: number;
  namespace: string;
  topic: string;
  event: AnyMessage;
}

export interface JournalOptions {
  /** the bound on the journal's files together; the oldest quarter goes when it is reached */
  maxBytes: number;
  /** told about a damaged record that was dropped */
  warn?: (message: string, fields: Record<string, unknown>) => void;
}

export const defaultJournalBytes = 16 * 1024 * 1024;
/** the journal is this many segment files; the oldest is deleted when a new one starts */
const segments = 4;
const headerBytes = 8;
const segmentName = /^(\d{20})\.log$/;

/**
 * berthd's bounded journal of recent events, a few segment files of records appended in sequence.
 * A record is its length (u32 LE), the CRC-32 of its payload (u32 LE) and the payload, one JSON
 * object. Appends are plain write(2)s, never fsync'd: a berthd that is killed loses nothing (the
 * kernel has the bytes); a machine that crashes may lose the last events or leave a torn record,
 * which open() drops. That is acceptable because what must outlive a machine crash is the truth,
 * and the truth is elsewhere: an exit is durable in its monitor's exit file and published again
 * after a restart when its exit.reported mark is missing (see Exchange for the duplicate check).
 */
export class Journal {
  private fd: number;
  private currentBytes: number;
  /** a write failed: the next append starts a new segment */
  private broken = false;
  /** the first seq of each segment, oldest first; the last is the one appended to */
  private readonly firsts: number[];
  /** the seq the next record gets */
  nextSeq: number;

  private constructor(
    private readonly dir: string,
    private readonly options: JournalOptions,
    firsts: number[],
    nextSeq: number,
  ) {
    this.firsts = firsts;
    this.nextSeq = nextSeq;
    this.fd = openSync(this.path(firsts[firsts.length - 1]), 'a', 0o600);
    this.currentBytes = fstatSync(this.fd).size;
  }

  /**
   * Opens the journal in `dir`, reading what it holds: `kept` gets every record, oldest first.
   * A torn or damaged tail of the newest segment is cut off; a damaged record in an older one
   * ends that segment's records (readers stop there too).
   */
  static open(dir: string, options: JournalOptions, kept: (r: JournalRecord) => void = () => undefined): Journal {
    const firsts = readdirSync(dir)
      .map((name) => segmentName.exec(name)?.[1])
      .filter((n): n is string => n !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    let nextSeq = Math.max(1, firsts[firsts.length - 1] ?? 1);
    for (const [i, first] of firsts.entries()) {
      const path = join(dir, fileName(first));
      const { records, goodBytes, damaged } = parseSegment(readFileSync(path), first);
      for (const r of records) kept(r);
      if (records.length > 0) nextSeq = Math.max(nextSeq, records[records.length - 1].seq + 1);
      if (damaged) {
        options.warn?.('dropped a damaged record and what follows it in the event journal', { file: path, offset: goodBytes });
        if (i === firsts.length - 1) {
          const fd = openSync(path, 'r+');
          try {
            ftruncateSync(fd, goodBytes);
          } finally {
            closeSync(fd);
          }
        }
      }
    }
    if (firsts.length === 0) firsts.push(nextSeq);
    return new Journal(dir, options, firsts, nextSeq);
  }

  /** The first seq the journal still holds (nextSeq when it is empty). */
  get oldestSeq(): number {
    return this.firsts[0];
  }

  /** Appends one record; its seq must be nextSeq. Returns false for one too big to keep. */
  append(record: JournalRecord): boolean {
    if (record.seq !== this.nextSeq) throw new Error(`journal: seq ${record.seq} appended where ${this.nextSeq} was due`);
    this.nextSeq++;
    const bytes = encodeRecord(record);
    const segmentBytes = Math.floor(this.options.maxBytes / segments);
    if (bytes.length > segmentBytes) return false;
    try {
      if (this.broken || this.currentBytes + bytes.length > segmentBytes) this.rotate(record.seq);
      writeSync(this.fd, bytes);
      this.currentBytes += bytes.length;
      return true;
    } catch (err) {
      // e.g. a full disk: the event is still delivered live; a part written may be a torn
      // record, so the next event starts a new segment
      this.broken = true;
      this.options.warn?.('could not append to the event journal', { seq: record.seq, error: (err as Error).message });
      return false;
    }
  }

  /** The records with a seq from `from` up to (not including) `until`, oldest first; `each` may make it wait. */
  async read(from: number, until: number, each: (r: JournalRecord) => void | Promise<void>): Promise<void> {
    const firsts = [...this.firsts];
    for (const [i, first] of firsts.entries()) {
      if (first >= until) break;
      if (i + 1 < firsts.length && firsts[i + 1] <= from) continue;
      // a segment deleted meanwhile held events beyond the bound, like those before it
      const data = await fs.readFile(this.path(first)).catch(() => undefined);
      if (!data) continue;
      for (const r of parseSegment(data, first).records) if (r.seq >= from && r.seq < until) await each(r);
    }
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  private rotate(first: number): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
    this.firsts.push(first);
    this.fd = openSync(this.path(first), 'a', 0o600);
    this.currentBytes = 0;
    this.broken = false;
    while (this.firsts.length > segments) {
      const oldest = this.firsts.shift()!;
      try {
        unlinkSync(this.path(oldest));
      } catch {
        // already gone
      }
    }
  }

  private path(first: number): string {
    return join(this.dir, fileName(first));
  }
}

function fileName(first: number): string {
  return `${String(first).padStart(20, '0')}.log`;
}

export function encodeRecord(r: JournalRecord): Buffer {
  const payload = Buffer.from(
    JSON.stringify({ s: r.seq, t: r.timestamp, n: r.namespace, p: r.topic, u: r.event.type_url, v: Buffer.from(r.event.value ?? []).toString('base64') }),
  );
  const header = Buffer.alloc(headerBytes);
  header.writeUInt32LE(payload.length, 0);
  header.writeUInt32LE(crc32(payload), 4);
  return Buffer.concat([header, payload]);
}

/** The good records of a segment, up to the first torn or damaged one (whose offset is goodBytes). */
export function parseSegment(data: Buffer, first: number): { records: JournalRecord[]; goodBytes: number; damaged: boolean } {
  const records: JournalRecord[] = [];
  let offset = 0;
  let expected = first;
  while (offset < data.length) {
    const r = recordAt(data, offset, expected);
    if (!r) return { records, goodBytes: offset, damaged: true };
    records.push(r.record);
    expected = r.record.seq + 1;
    offset = r.end;
  }
  return { records, goodBytes: offset, damaged: false };
}

function recordAt(data: Buffer, offset: number, minSeq: number): { record: JournalRecord; end: number } | undefined {
  if (offset + headerBytes > data.length) return undefined;
  const length = data.readUInt32LE(offset);
  const end = offset + headerBytes + length;
  if (end > data.length) return undefined;
  const payload = data.subarray(offset + headerBytes, end);
  if (crc32(payload) !== data.readUInt32LE(offset + 4)) return undefined;
  try {
    const p = JSON.parse(payload.toString()) as { s: number; t: number; n: string; p: string; u: string; v: string };
    if (!Number.isSafeInteger(p.s) || p.s < minSeq || typeof p.t !== 'number' || typeof p.n !== 'string' || typeof p.p !== 'string' || typeof p.u !== 'string')
      return undefined;
    return { record: { seq: p.s, timestamp: p.t, namespace: p.n, topic: p.p, event: { type_url: p.u, value: Buffer.from(p.v, 'base64') } }, end };
  } catch {
    return undefined;
  }
}
