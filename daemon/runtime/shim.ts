import { spawn } from 'node:child_process';
import { constants, openSync, readFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { codec } from '../../api/codec.ts';
import type { ShimEvent__Output } from '../../api/gen/berth/shim/v1/ShimEvent.ts';
import type { TaskV2 } from '../../api/services.ts';
import { fromTimestamp } from '../../api/timestamp.ts';
import { type AnyMessage, encodeAny } from '../../core/any.ts';
import { BerthError, failedPrecondition } from '../../core/errors.ts';
import { stateEnv } from '../../core/shim-contract.ts';
import { mknod, S_IFIFO } from '../../native/index.ts';
import { ShimClient } from '../../transport/clients/shim.ts';
import type { Client } from '../../transport/typed.ts';
import type { Exchange } from '../events/exchange.ts';
import type { Logger } from '../log.ts';
import type { ExitStatus } from './task.ts';

/** What every shim invocation is told: containerd's flags, plus berth's state dir in the environment. */
export interface ShimInvocation {
  binary: string;
  namespace: string;
  id: string;
  bundle: string;
  /** berthd's socket */
  daemonAddress: string;
  /** what a legacy shim runs to publish events (berthd) */
  publishBinary: string;
  /** berthd's state dir: the shim puts its socket under <state>/s and runc's root under <state>/runc */
  state: string;
}

function run(inv: ShimInvocation, args: string[], stdin: Uint8Array, timeoutMs: number): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      inv.binary,
      ['-namespace', inv.namespace, '-address', inv.daemonAddress, '-publish-binary', inv.publishBinary, '-id', inv.id, ...args],
      {
        cwd: inv.bundle,
        env: { ...process.env, [stateEnv]: inv.state, TTRPC_ADDRESS: `${inv.daemonAddress}.ttrpc` },
        stdio: ['pipe', 'pipe', 'pipe'],
        detached: true,
      },
    );
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new BerthError('FailedPrecondition', `start shim ${inv.binary}: ${e.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8').trim() });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(stdin);
  });
}

/**
 * Reads the `log` fifo in a bundle, where a containerd shim writes its log (its serving process
 * opens it for writing at start and does not run without a reader): each line goes to berthd's
 * log, errors as warnings. Made when missing; reopened after a daemon restart.
 */
export function openShimLog(bundlePath: string, log: Logger, fields: Record<string, unknown>): { close(): void } {
  const path = join(bundlePath, 'log');
  try {
    mknod(path, S_IFIFO | 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  // read-write: the open does not wait for the shim, and the fifo never reads end-of-file
  const fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
  const socket = new Socket({ fd, readable: true, writable: false });
  socket.on('error', () => socket.destroy());
  socket.unref();
  createInterface({ input: socket }).on('line', (line) => {
    if (/level=(error|fatal)|panic/.test(line)) log.warn('shim', { ...fields, line });
    else log.debug('shim', { ...fields, line });
  });
  return { close: () => socket.destroy() };
}

/**
 * Runs `<shim> ... start` in the bundle and returns where the shim serves. berth shims print
 * `{"version":2,"address":"unix://...","protocol":"grpc"}`; containerd shims print a bare
 * address and speak ttrpc.
 */
export async function startShim(inv: ShimInvocation, options: AnyMessage | null | undefined): Promise<{ address: string; protocol: string }> {
  const r = await run(inv, ['start'], encodeAny(options), 30_000);
  const output = `${r.stdout.toString('utf8').trim()}${r.stderr ? `\n${r.stderr}` : ''}`.trim();
  if (r.code !== 0) throw failedPrecondition(`start shim: ${output || `exit status ${r.code}`}`);
  if (output.startsWith('{')) {
    const doc = JSON.parse(output) as { address?: string; protocol?: string };
    if (!doc.address) throw failedPrecondition(`start shim: no address in ${output}`);
    return { address: doc.address, protocol: doc.protocol ?? 'ttrpc' };
  }
  return { address: output, protocol: 'ttrpc' };
}

/** Runs `<shim> ... -bundle B delete`, the cleanup after a shim died; resolves with what it reports. */
export async function shimDelete(inv: ShimInvocation): Promise<ExitStatus> {
  const r = await run(inv, ['-bundle', inv.bundle, 'delete'], new Uint8Array(), 30_000);
  if (r.code !== 0) throw new BerthError('Unknown', `shim delete: ${r.stderr || `exit status ${r.code}`}`);
  const type = codec('containerd.task.v2.DeleteResponse');
  const msg = type.toObject(type.decode(r.stdout), { longs: Number, defaults: true }) as ExitStatus;
  return msg;
}

/**
 * berthd's link to one shim process (which may serve several tasks when they share a group): its
 * Task API, the tasks it serves, and the watch that notices when it dies.
 */
export interface ShimLink {
  readonly address: string;
  readonly client: { readonly task: Client<typeof TaskV2> };
  readonly tasks: Set<string>;
  shimPid: number;
  /** starts taking (or waiting for) its events, and watching for its death */
  pump(): void;
  /** its last task is gone: close once the shim has exited; `closed` is told when the link is closed */
  retire(closed: () => void): void;
  /** a new task for a retiring shim: serve again; false when already closed */
  revive(): boolean;
  close(): void;
}

/**
 * berthd's connection to one berth shim process (which may serve several tasks when they share a
 * group). It pumps the shim's events into the exchange, acknowledging each after publishing it,
 * and notices when the shim dies.
 */
export class ShimConnection implements ShimLink {
  readonly client: ShimClient;
  readonly tasks = new Set<string>();
  private pid = 0;
  /** the shim's start time: with the pid, it names one process even after the pid is reused */
  private pidStart: string | undefined;
  private stream: { cancel(): void } | undefined;
  private retiring = false;
  private retireTimer: NodeJS.Timeout | undefined;
  private onRetired: (() => void) | undefined;
  private closed = false;
  private failures = 0;

  constructor(
    readonly address: string,
    readonly namespace: string,
    private readonly exchange: Exchange,
    private readonly log: Logger,
    private readonly onDead: (conn: ShimConnection) => void,
    client?: ShimClient,
  ) {
    this.client = client ?? new ShimClient(address, namespace);
  }

  get shimPid(): number {
    return this.pid;
  }

  set shimPid(pid: number) {
    this.pid = pid;
    this.pidStart = processStart(pid);
  }

  /** Starts (or restarts) the event pump. */
  pump(): void {
    if (this.closed || this.stream) return;
    let call: { cancel(): void } | undefined;
    const stream = { cancel: () => call?.cancel() };
    this.stream = stream;
    void (async () => {
      try {
        for await (const e of this.client.events.Subscribe({}, { deadline: false, onCall: (c) => (call = c) })) {
          this.failures = 0;
          this.forward(e);
        }
      } catch {
        // the stream broke or was cancelled: what happens next is decided below
      }
      if (this.stream !== stream) return;
      this.stream = undefined;
      if (this.closed) return;
      if (this.retiring) return this.close();
      this.afterStreamLoss();
    })();
  }

  /** Publishes one shim event and acknowledges it (the shim keeps it until then). */
  private forward(e: ShimEvent__Output): void {
    try {
      if (e.event)
        this.exchange.forward({ timestamp: fromTimestamp(e.timestamp) ?? Date.now(), namespace: e.namespace, topic: e.topic, event: e.event as AnyMessage });
    } catch (err) {
      this.log.warn('dropping a malformed shim event', { topic: e.topic, error: (err as Error).message });
    }
    this.client.events.Ack({ seq: e.seq }, { timeoutMs: 10_000 }).catch((err: Error) => this.log.debug('shim event ack failed', { error: err.message }));
  }

  /** The stream broke: resubscribe while the shim lives, report it dead once it does not. */
  private afterStreamLoss(): void {
    const alive = this.pid > 0 && this.pidStart !== undefined && processStart(this.pid) === this.pidStart;
    this.failures++;
    if (!alive && this.failures > 1) {
      this.close();
      this.onDead(this);
      return;
    }
    setTimeout(() => this.pump(), Math.min(50 * this.failures, 1000)).unref();
  }

  /**
   * The last task is gone: keep pumping until the shim has handed over its last events and
   * exited (at most 10 s); `closed` is told when the connection is closed.
   */
  retire(closed: () => void): void {
    this.retiring = true;
    this.onRetired = closed;
    if (!this.stream) {
      this.close();
      return;
    }
    this.retireTimer = setTimeout(() => this.close(), 10_000).unref();
  }

  /**
   * A new task of a retiring connection's shim (a group shim that got another container before it
   * exited): the connection serves again, so that one stream, not two, takes the shim's events.
   * False when it is already closed.
   */
  revive(): boolean {
    if (this.closed) return false;
    this.retiring = false;
    this.onRetired = undefined;
    clearTimeout(this.retireTimer);
    this.pump();
    return true;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.retireTimer);
    this.onRetired?.();
    this.stream?.cancel();
    this.stream = undefined;
    this.client.close();
  }
}

/** When a process started (clock ticks since boot, field 22 of /proc/PID/stat), or undefined once it is gone. */
export function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) may hold spaces and parentheses: count from the last ')'
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}
