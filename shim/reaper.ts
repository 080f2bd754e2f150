// Reaping for a child subreaper inside Node. Container processes are re-parented to the shim
// when runc exits, and libuv knows nothing of them: the shim waits for them itself, one pid at
// a time, from a SIGCHLD handler. A blind waitpid(-1) would also steal the exits of the
// processes libuv spawned (runc, mount), so strays — re-parented processes the shim does not
// track — are found with a non-reaping waitid peek and reaped only if libuv did not spawn them.
import { ChildProcess } from 'node:child_process';
import { type ChildExit, waitidPeek, waitpid } from '../native/index.ts';

/** The exit status the shim API reports: the code, or 128 + the signal number. */
export function exitStatus(exit: ChildExit): number {
  return exit.signal !== null ? 128 + exit.signal : (exit.exitCode ?? 255);
}

export interface Exit {
  status: number;
  /** when the shim saw it, ms since the epoch */
  at: number;
}

type Listener = (exit: Exit) => void;

export class Reaper {
  private readonly tracked = new Map<number, Listener>();
  /** exits of pids nobody tracked (yet): a process may exit before its pid file is read */
  private readonly unclaimed = new Map<number, Exit>();
  private readonly libuvChildren = new Set<number>();
  private retry: NodeJS.Timeout | undefined;

  constructor() {
    // Every child_process spawn (runc, mount, a logging binary) goes through
    // ChildProcess.prototype.spawn; recording its pid there keeps the stray sweep off it.
    const children = this.libuvChildren;
    // not in @types/node, but the method every spawn, execFile and fork calls
    const proto = ChildProcess.prototype as unknown as { spawn: (...args: unknown[]) => unknown };
    const original = proto.spawn;
    proto.spawn = function (this: ChildProcess, ...args: unknown[]) {
      const result = original.apply(this, args);
      const pid = this.pid;
      if (pid !== undefined) {
        children.add(pid);
        this.once('exit', () => children.delete(pid));
      }
      return result;
    };
    process.on('SIGCHLD', () => this.sweep());
  }

  /**
   * Calls onExit once when pid exits (at once if it already has). The pid must be a child of
   * the shim: a re-parented container process.
   */
  track(pid: number, onExit: Listener): void {
    const early = this.unclaimed.get(pid);
    if (early) {
      this.unclaimed.delete(pid);
      queueMicrotask(() => onExit(early));
      return;
    }
    this.tracked.set(pid, onExit);
    this.sweep();
  }

  /** Whether pid is tracked and not yet exited. */
  isTracked(pid: number): boolean {
    return this.tracked.has(pid);
  }

  sweep(): void {
    const at = Date.now();
    for (const [pid, onExit] of this.tracked) {
      let exit: ChildExit | null;
      try {
        exit = waitpid(pid, true);
      } catch (err) {
        // ECHILD: not our child (any more); report it as lost rather than wait forever
        if ((err as NodeJS.ErrnoException).code !== 'ECHILD') throw err;
        exit = { pid, exitCode: 255, signal: null };
      }
      if (exit) {
        this.tracked.delete(pid);
        onExit({ status: exitStatus(exit), at });
      }
    }
    // strays, one at a time: the peek shows the first zombie only
    for (;;) {
      const peek = waitidPeek();
      if (!peek) return;
      if (this.libuvChildren.has(peek.pid)) {
        // libuv reaps its own on this loop turn; look again for what hides behind it
        this.retry ??= setTimeout(() => {
          this.retry = undefined;
          this.sweep();
        }, 5);
        return;
      }
      const exit = waitpid(peek.pid, true);
      if (!exit) return;
      const listener = this.tracked.get(exit.pid);
      if (listener) {
        this.tracked.delete(exit.pid);
        listener({ status: exitStatus(exit), at });
      } else {
        this.unclaimed.set(exit.pid, { status: exitStatus(exit), at });
        // keep the map bounded: old strays are nobody's
        if (this.unclaimed.size > 1024) this.unclaimed.delete(this.unclaimed.keys().next().value!);
      }
    }
  }
}
