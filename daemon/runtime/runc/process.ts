// One process of a task that berthd runs through runc: a container's init or an exec, owned by
// its berth-monitor. berthd keeps its state; the monitor keeps its stdio and exit status.
import type { Timestamp__Output as Timestamp } from '../../../api/gen/google/protobuf/Timestamp.ts';

export type ProcessStatus = 'CREATED' | 'RUNNING' | 'STOPPED';

export interface Stdio {
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
  /** the container log the monitor writes beside the FIFOs (docs/monitor.md), for an init */
  log?: { path: string; maxSize: number; maxFiles: number; maxLine?: number };
}

export interface ProcessExit {
  status: number;
  exitedAt: Timestamp;
}

export class MonitoredProcess {
  pid = 0;
  status: ProcessStatus = 'CREATED';
  exit: ProcessExit | undefined;
  /** an exec's runtime-spec Process until it is started */
  spec: object | undefined;
  /** set while Start runs, so that the exit event never overtakes the start event */
  starting: Promise<unknown> | undefined;
  /** an init's monitor releasing it after its exit: true once the monitor deleted the container */
  released: Promise<boolean> | undefined;
  private waiters: ((exit: ProcessExit) => void)[] = [];

  constructor(
    readonly containerId: string,
    /** '' for a container's init */
    readonly execId: string,
    readonly stdio: Stdio,
    /** where its monitor keeps pid, exit and monitor.pid */
    readonly dir: string,
    /** its monitor's control socket */
    readonly socket: string,
  ) {}

  get isInit(): boolean {
    return this.execId === '';
  }

  /** The id events carry: the exec id, or the container id for init. */
  get eventId(): string {
    return this.execId || this.containerId;
  }

  /** Resolves once the process has exited. */
  wait(): Promise<ProcessExit> {
    if (this.exit && this.status === 'STOPPED') return Promise.resolve(this.exit);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Marks the process stopped and releases every Wait. */
  setExited(exit: ProcessExit): void {
    this.exit = exit;
    this.status = 'STOPPED';
    for (const w of this.waiters.splice(0)) w(exit);
  }
}

/** A Timestamp from nanoseconds since the epoch, as the monitor records them. */
export function timestampOfNs(ns: bigint): Timestamp {
  return { seconds: Number(ns / 1_000_000_000n), nanos: Number(ns % 1_000_000_000n) };
}

/** The time now, as an exit records it. */
export function now(): Timestamp {
  return timestampOfNs(BigInt(Date.now()) * 1_000_000n);
}
