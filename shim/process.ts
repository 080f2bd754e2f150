// One process the shim runs: a container's init or an exec, its state, stdio and exit.

import type { ProcessIO, StdioConfig } from './io.ts';
import type { Exit } from './reaper.ts';

// PAUSED is a container's state (Container.paused), reported for its init by State
export type Status = 'CREATED' | 'RUNNING' | 'STOPPED';

export class Proc {
  pid = 0;
  status: Status = 'CREATED';
  exit: Exit | undefined;
  io: ProcessIO | undefined;
  /** an exec's runtime-spec Process, as runc exec --process takes it */
  spec: object | undefined;
  /** set while Start runs, so that the exit event never overtakes the start event */
  starting: Promise<unknown> | undefined;
  private waiters: ((exit: Exit) => void)[] = [];

  constructor(
    readonly containerId: string,
    /** '' for a container's init */
    readonly execId: string,
    readonly stdio: StdioConfig,
  ) {}

  get isInit(): boolean {
    return this.execId === '';
  }

  /** The id events carry: the exec id, or the container id for init. */
  get eventId(): string {
    return this.execId || this.containerId;
  }

  /** Resolves once the process has exited and its output has been copied. */
  wait(): Promise<Exit> {
    if (this.exit && this.status === 'STOPPED') return Promise.resolve(this.exit);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Marks the process stopped and releases every Wait. */
  setExited(exit: Exit): void {
    this.exit = exit;
    this.status = 'STOPPED';
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w(exit);
  }
}
