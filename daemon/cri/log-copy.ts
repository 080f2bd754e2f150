import { closeSync, constants, openSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
import { openFifo } from '../../native/fifo.ts';

type Stream = 'stdout' | 'stderr';

/** `2026-12-07T04:11:23.123000000Z`: the CRI log's RFC 3339 time with nine fractional digits. */
const timestamp = () => new Date().toISOString().replace('Z', '000000Z');

/**
 * The CRI log of a container whose runtime runs under a shim: berthd reads the task's output FIFOs
 * and writes the records (`TIMESTAMP STREAM P|F CONTENT`) that berth-monitor writes for berthd's
 * own runc tasks (docs/monitor.md, "Container log"): a read's unfinished line is a `P` record, and
 * no record holds more than `maxLine` bytes of a line (0: no bound). The file is opened for
 * appending; reopen() opens its path again (ReopenContainerLog). Until finish() berthd holds a
 * write end of each FIFO, so that reading does not end before the shim opens them.
 */
export class CriLogCopy {
  private fd: number;
  private readonly keepalive: number[] = [];
  private readonly reading: Array<Promise<void>> = [];
  private readonly sockets: Socket[] = [];

  constructor(
    private readonly path: string,
    private readonly maxLine: number,
  ) {
    this.fd = openSync(path, 'a', 0o640);
  }

  /** Copies what FIFO `fifo` carries into the log as `stream`, until every writer is gone (after finish()). */
  follow(fifo: string, stream: Stream): void {
    const fd = openFifo(fifo, 'read');
    try {
      this.keepalive.push(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    const socket = new Socket({ fd, readable: true, writable: false });
    this.sockets.push(socket);
    socket.on('data', (chunk: Buffer) => this.write(stream, chunk));
    this.reading.push(
      new Promise<void>((resolve) => {
        socket.once('close', () => resolve());
        socket.once('error', () => resolve());
      }),
    );
  }

  /** Opens the log's path again (the kubelet moved the file away). */
  reopen(): void {
    const fd = openSync(this.path, 'a', 0o640);
    closeSync(this.fd);
    this.fd = fd;
  }

  /**
   * The task has exited: once what its FIFOs still hold is copied, the log is closed. A FIFO that
   * a process left behind still holds open (a daemonised child) is let go after `graceMs`.
   */
  async finish(graceMs = 2000): Promise<void> {
    for (const fd of this.keepalive.splice(0)) closeSync(fd);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(this.reading), new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
    for (const s of this.sockets.splice(0)) s.destroy();
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  private write(stream: Stream, chunk: Buffer): void {
    if (this.fd < 0) return;
    const head = `${timestamp()} ${stream} `;
    const records: Buffer[] = [];
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(0x0a, start);
      let end = nl < 0 ? chunk.length : nl;
      let full = nl >= 0;
      if (this.maxLine > 0 && end - start > this.maxLine) {
        end = start + this.maxLine;
        full = false;
      }
      records.push(Buffer.from(`${head}${full ? 'F' : 'P'} `), chunk.subarray(start, end), Buffer.from('\n'));
      start = full ? end + 1 : end;
    }
    try {
      writeSync(this.fd, Buffer.concat(records));
    } catch {
      // a failed write (disk full) loses the records, as the monitor's
    }
  }
}
