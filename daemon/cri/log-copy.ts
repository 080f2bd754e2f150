import { closeSync, openSync, writeSync } from 'node:fs';
import { Writable } from 'node:stream';
import { drainOutputs, OutputFifo } from '../../native/fifo.ts';
import { formatRecords, type Stream } from '../logs/cri.ts';

/**
 * The CRI log of a container whose runtime runs under a shim: berthd reads the task's output FIFOs
 * and writes the records (`TIMESTAMP STREAM P|F CONTENT`) that berth-monitor writes for berthd's
 * own runc tasks (docs/monitor.md, "Container log"), no record holding more than `maxLine` bytes
 * of a line (0: no bound). The file is opened for appending; reopen() opens its path again
 * (ReopenContainerLog).
 */
export class CriLogCopy {
  private fd: number;
  private readonly outputs: OutputFifo[] = [];

  constructor(
    private readonly path: string,
    private readonly maxLine: number,
  ) {
    this.fd = openSync(path, 'a', 0o640);
  }

  /** Copies what FIFO `fifo` carries into the log as `stream`, until every writer is gone (after finish()). */
  follow(fifo: string, stream: Stream): void {
    const sink = new Writable({
      write: (chunk: Buffer, _encoding, done) => {
        this.write(formatRecords(stream, chunk, this.maxLine));
        done();
      },
    });
    this.outputs.push(new OutputFifo(fifo, sink));
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
    await drainOutputs(this.outputs, graceMs);
    for (const o of this.outputs.splice(0)) o.close();
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  private write(records: Buffer): void {
    if (this.fd < 0) return;
    try {
      writeSync(this.fd, records);
    } catch {
      // a failed write (disk full) loses the records, as the monitor's
    }
  }
}
