// A client of a monitor's control socket: one connection per request, one request line, one
// answer line (docs/monitor.md). `wait` holds its connection until the process has exited.
import { connect } from 'node:net';
import { BerthError, type ErrorCode } from '../../../core/errors.ts';
import type { ExitRecord } from './exit-file.ts';

export type MonitorState = { state: 'running'; pid: number } | { state: 'exited'; pid: number; exit: ExitRecord };

/** `exited <pid> <status> <exited_at_ns>` */
function parseExited(answer: string): { pid: number; exit: ExitRecord } {
  const m = /^exited (\d+) (\d+) (\d+)$/.exec(answer);
  if (!m) throw new BerthError('Internal', `monitor: unexpected answer ${JSON.stringify(answer)}`);
  return { pid: Number.parseInt(m[1], 10), exit: { status: Number.parseInt(m[2], 10), exitedAt: BigInt(m[3]) } };
}

export class MonitorClient {
  constructor(readonly socket: string) {}

  /** Sends one line and resolves with the answer line (without its newline). */
  request(line: string, signal?: AbortSignal): Promise<string> {
    return new Promise((resolve, reject) => {
      const conn = connect(this.socket);
      let buf = '';
      let done = false;
      const finish = (err: Error | undefined, answer?: string) => {
        if (done) return;
        done = true;
        signal?.removeEventListener('abort', onAbort);
        conn.destroy();
        if (err) reject(err);
        else resolve(answer!);
      };
      const onAbort = () => finish(new BerthError('Canceled', `monitor ${this.socket}: ${line} canceled`));
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      conn.setEncoding('utf8');
      conn.on('connect', () => conn.write(`${line}\n`));
      conn.on('data', (d: string) => {
        buf += d;
        const nl = buf.indexOf('\n');
        if (nl >= 0) finish(undefined, buf.slice(0, nl));
      });
      conn.on('error', (err) => finish(new BerthError('Unavailable', `monitor gone (${this.socket}): ${err.message}`)));
      conn.on('close', () => finish(new BerthError('Unavailable', `monitor gone (${this.socket}): connection closed before an answer`)));
    });
  }

  /** An `ok` answer, or the `error` one as a BerthError of the given class. */
  private async ok(line: string, code: ErrorCode): Promise<void> {
    const answer = await this.request(line);
    if (answer === 'ok') return;
    throw new BerthError(code, `monitor: ${line}: ${answer.replace(/^error /, '')}`);
  }

  async state(): Promise<MonitorState> {
    const answer = await this.request('state');
    const running = /^running (\d+)$/.exec(answer);
    if (running) return { state: 'running', pid: Number.parseInt(running[1], 10) };
    return { state: 'exited', ...parseExited(answer) };
  }

  /** Resolves when the process has exited (its exit file is on disk by then). */
  async wait(signal?: AbortSignal): Promise<{ pid: number; exit: ExitRecord }> {
    return parseExited(await this.request('wait', signal));
  }

  resize(width: number, height: number): Promise<void> {
    return this.ok(`resize ${width} ${height}`, 'FailedPrecondition');
  }

  /** Opens the container log's path again (CRI's ReopenContainerLog, after it was moved away). */
  reopenLog(): Promise<void> {
    return this.ok('reopen-log', 'FailedPrecondition');
  }

  closeStdin(): Promise<void> {
    return this.ok('close-stdin', 'Internal');
  }

  /** `runtime start` of the container the monitor created; the runtime's refusal is its error. */
  async start(): Promise<void> {
    const answer = await this.request('start');
    if (answer === 'ok') return;
    throw new BerthError('Unknown', `OCI runtime start failed: ${answer.replace(/^error /, '')}`);
  }

  /** kill(2) of the process; NotFound once it has exited. */
  kill(signal: number): Promise<void> {
    return this.ok(`kill ${signal}`, 'NotFound');
  }

  /**
   * Tells the monitor its exit status was collected: it removes its socket and exits. With
   * `deleteContainer` (a monitor that created a container) it first runs the runtime's delete
   * and unmounts the rootfs it was given; the runtime's refusal is then the error.
   */
  release(deleteContainer = false): Promise<void> {
    return this.ok(deleteContainer ? 'release delete' : 'release', 'FailedPrecondition');
  }
}
