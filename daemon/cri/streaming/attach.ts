import { promises as fs, watch } from 'node:fs';
import type { Writable } from 'node:stream';
import type { RemoteIo } from './remotecommand.ts';

/**
 * What Attach needs of a CRI container (CriContainers.attachTarget(id), lane cri-ctr: NotFound
 * for an unknown id, FailedPrecondition when it is not running).
 */
export interface AttachTarget {
  tty: boolean;
  /** the container's CRI log (its output arrives here, CRI format: TIMESTAMP STREAM P|F message) */
  logPath: string;
  /** berthd's write end of the container's stdin (a FIFO berthd keeps open); null when config.stdin is false */
  stdin: import('node:stream').Writable | null;
  /** config.stdin_once: the container's stdin closes when the first attach's stdin ends */
  stdinOnce: boolean;
}

export interface AttachTargets {
  attachTarget(id: string): Promise<AttachTarget>;
}

/**
 * Attaches a client's streams to a running container: its output as the CRI log records it,
 * from the log's end on (each line's message to stdout or stderr, as the line's stream says;
 * `P` pieces without their newline), the client's stdin into the container's. Resolves when
 * `exited` does (the container ended: the log's last lines are sent first) or the client went.
 */
export async function attachTo(target: AttachTarget, io: RemoteIo, exited: Promise<unknown>, signal: AbortSignal): Promise<void> {
  const follower = new LogFollower(target.logPath, (stream, text) => {
    const sink = stream === 'stderr' && !target.tty ? io.stderr : io.stdout;
    sink?.write(text);
  });
  await follower.start();
  if (io.stdin && target.stdin) copyStdin(io.stdin, target.stdin, target.stdinOnce);
  // a container without stdin: what the client sends is read and dropped (unread, it would hold up the session)
  else io.stdin?.resume();
  try {
    await Promise.race([exited, new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }))]);
    await follower.readNow();
  } finally {
    follower.stop();
    if (io.stdin && target.stdin) io.stdin.unpipe(target.stdin);
  }
}

function copyStdin(from: NonNullable<RemoteIo['stdin']>, to: Writable, stdinOnce: boolean): void {
  // the container's stdin outlives this attach unless stdin_once says the first attach's end is its end
  from.pipe(to, { end: stdinOnce });
}

/**
 * Follows a CRI log file from its end: new bytes are read as they are appended (fs.watch, and
 * a poll every 250 ms for what watch misses); a file replaced or truncated (rotation,
 * ReopenContainerLog) is read again from its start.
 */
export class LogFollower {
  private offset = 0;
  private ino = 0;
  private partial = '';
  private stopped = false;
  private reading: Promise<void> = Promise.resolve();
  private watcher: ReturnType<typeof watch> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly path: string,
    private readonly emit: (stream: 'stdout' | 'stderr', text: string) => void,
  ) {}

  async start(): Promise<void> {
    const st = await fs.stat(this.path).catch(() => undefined);
    this.offset = st?.size ?? 0;
    this.ino = st?.ino ?? 0;
    try {
      this.watcher = watch(this.path, () => void this.readNow());
      this.watcher.on('error', () => undefined);
    } catch {
      // not there yet: the poll finds it
    }
    this.timer = setInterval(() => void this.readNow(), 250);
  }

  /** Reads what was appended since the last read (one read at a time). */
  readNow(): Promise<void> {
    this.reading = this.reading.then(() => this.readOnce()).catch(() => undefined);
    return this.reading;
  }

  private async readOnce(): Promise<void> {
    if (this.stopped) return;
    const st = await fs.stat(this.path).catch(() => undefined);
    if (!st) return;
    if (st.ino !== this.ino || st.size < this.offset) {
      this.ino = st.ino;
      this.offset = 0;
      this.partial = '';
    }
    if (st.size <= this.offset) return;
    const fh = await fs.open(this.path, 'r');
    try {
      const length = Math.min(st.size - this.offset, 1 << 20);
      const buf = Buffer.alloc(length);
      const { bytesRead } = await fh.read(buf, 0, length, this.offset);
      this.offset += bytesRead;
      this.consume(buf.subarray(0, bytesRead).toString('utf8'));
    } finally {
      await fh.close();
    }
    if (this.offset < st.size) await this.readOnce();
  }

  private consume(text: string): void {
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) {
      const m = /^(\S+) (stdout|stderr) ([^ ]+) (.*)$/s.exec(line);
      if (!m) continue;
      const full = m[3]!.split(':')[0] !== 'P';
      this.emit(m[2] as 'stdout' | 'stderr', full ? `${m[4]}\n` : m[4]!);
    }
  }

  stop(): void {
    this.stopped = true;
    this.watcher?.close();
    clearInterval(this.timer);
  }
}
