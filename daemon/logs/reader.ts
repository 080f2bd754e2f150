import { promises as fs } from 'node:fs';
import { type LogRecord, parseRecord, type Stream } from './cri.ts';

/** One line of a container's output, partial records joined. */
export interface LogLine {
  timeNs: bigint;
  stream: Stream;
  /** with its newline, unless the process has not ended the line */
  data: Buffer;
}

export interface ReadOptions {
  /** only the last `tail` lines; undefined: all */
  tail?: number;
  /** only lines written at or after this time (ns since the epoch) */
  sinceNs?: bigint;
  /** keep reading what is appended (across rotations) until `done` settles or `signal` aborts */
  follow?: boolean;
  done?: Promise<unknown>;
  signal?: AbortSignal;
  /** how often a followed log is looked at for more */
  pollMs?: number;
}

const chunkSize = 64 * 1024;
const newline = 0x0a;

/** The files of a log, oldest first: PATH.N … PATH.1, PATH (those that exist). */
export async function logFiles(path: string): Promise<string[]> {
  const rotated: string[] = [];
  for (let i = 1; i <= 1000; i++) {
    const p = `${path}.${i}`;
    if (
      !(await fs.stat(p).then(
        () => true,
        () => false,
      ))
    )
      break;
    rotated.unshift(p);
  }
  return [...rotated, path];
}

/** Joins partial records into lines, per stream. */
class LineJoiner {
  private readonly parts = new Map<Stream, { timeNs: bigint; chunks: Buffer[] }>();

  push(r: LogRecord): LogLine | undefined {
    const part = this.parts.get(r.stream);
    if (r.partial) {
      if (part) part.chunks.push(r.content);
      else this.parts.set(r.stream, { timeNs: r.timeNs, chunks: [r.content] });
      return undefined;
    }
    this.parts.delete(r.stream);
    const chunks = [...(part?.chunks ?? []), r.content, Buffer.from('\n')];
    return { timeNs: part?.timeNs ?? r.timeNs, stream: r.stream, data: Buffer.concat(chunks) };
  }

  /** Lines the process has not ended, as they are. */
  flush(): LogLine[] {
    const rest = [...this.parts.entries()].map(([stream, p]) => ({ timeNs: p.timeNs, stream, data: Buffer.concat(p.chunks) }));
    this.parts.clear();
    return rest;
  }
}

/** Reads one file from `offset`, calling `onLine` for each complete line; returns the offset after the last complete line. */
async function readLines(handle: fs.FileHandle, offset: number, onLine: (line: Buffer) => void): Promise<number> {
  const buf = Buffer.allocUnsafe(chunkSize);
  let carry = Buffer.alloc(0);
  let pos = offset;
  for (;;) {
    const { bytesRead } = await handle.read(buf, 0, chunkSize, pos);
    if (bytesRead === 0) break;
    pos += bytesRead;
    const data = carry.length > 0 ? Buffer.concat([carry, buf.subarray(0, bytesRead)]) : buf.subarray(0, bytesRead);
    let start = 0;
    for (let nl = data.indexOf(newline); nl >= 0; nl = data.indexOf(newline, start)) {
      onLine(data.subarray(start, nl));
      start = nl + 1;
    }
    carry = Buffer.from(data.subarray(start));
  }
  // a record still being written is read again next time, whole
  return pos - carry.length;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

/**
 * A container's log as lines: the rotated files and the current one, then, with `follow`, what
 * is appended (a rotation is noticed by the current file changing its inode: the old one is
 * read to its end first). A line that is not a record is skipped.
 */
export async function* readLog(path: string, o: ReadOptions = {}): AsyncGenerator<LogLine> {
  const joiner = new LineJoiner();
  const kept: LogLine[] = [];
  const take = (line: Buffer, out: LogLine[]) => {
    const r = parseRecord(line);
    if (!r) return;
    const l = joiner.push(r);
    if (l && (o.sinceNs === undefined || l.timeNs >= o.sinceNs)) out.push(l);
  };
  const bound = () => {
    if (o.tail !== undefined && kept.length > o.tail) kept.splice(0, kept.length - o.tail);
  };

  const files = await logFiles(path);
  let current: { handle: fs.FileHandle; ino: number; offset: number } | undefined;
  try {
    for (const file of files) {
      const handle = await fs.open(file, 'r').catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return undefined; // rotated away meanwhile
        throw err;
      });
      if (!handle) continue;
      const last = file === path;
      const offset = await readLines(handle, 0, (line) => {
        take(line, kept);
        bound();
      });
      if (last) current = { handle, ino: (await handle.stat()).ino, offset };
      else await handle.close();
    }
    if (!o.follow || !current) {
      // lines the process has not ended count among the last ones
      kept.push(...joiner.flush().filter((l) => o.sinceNs === undefined || l.timeNs >= o.sinceNs));
      bound();
      yield* kept;
      return;
    }
    yield* kept.splice(0);

    let finished = false;
    o.done?.then(
      () => (finished = true),
      () => (finished = true),
    );
    for (;;) {
      if (o.signal?.aborted) return;
      // what `done` promises is all on disk once it settles (the monitor logs before it exits): one more read
      const last = finished;
      const fresh: LogLine[] = [];
      current.offset = await readLines(current.handle, current.offset, (line) => take(line, fresh));
      yield* fresh;
      const now = await fs.stat(path).catch(() => undefined);
      // emptied in place (a log kept in one file): from its start again
      if (now && now.ino === current.ino && now.size < current.offset) current.offset = 0;
      if (now && now.ino !== current.ino) {
        // rotated: the old file is complete (read above); the new one from its start
        const handle = await fs.open(path, 'r').catch(() => undefined);
        if (handle) {
          await current.handle.close();
          current = { handle, ino: (await handle.stat()).ino, offset: 0 };
          continue;
        }
      }
      if (last) {
        yield* joiner.flush();
        return;
      }
      await sleep(o.pollMs ?? 100, o.signal);
    }
  } finally {
    await current?.handle.close();
  }
}
