import { constants } from 'node:os';
import type { WaitResponse__Output } from '../../api/gen/containerd/services/tasks/v1/WaitResponse.ts';
import type { BerthClient } from '../../transport/client.ts';
import { ClientIO } from './stdio.ts';

/**
 * Running a started process to its end as ctr does: Tasks.Wait before Tasks.Start, signals
 * this process gets forwarded as Tasks.Kill, the pty resized at start and on SIGWINCH, CloseIO
 * at the end of stdin, and the output drained before the caller deletes the process.
 */

/** What ctr's ForwardAllSignals would forward, minus those Node cannot or must not catch. */
export const forwardedSignals: NodeJS.Signals[] = [
  'SIGINT',
  'SIGTERM',
  'SIGHUP',
  'SIGQUIT',
  'SIGUSR1',
  'SIGUSR2',
  'SIGALRM',
  'SIGCONT',
  'SIGTSTP',
  'SIGTTIN',
  'SIGTTOU',
];

/** Tasks.Wait without the --timeout deadline (it blocks until the process exits), and a way to cancel it. */
export function waitWithoutDeadline(
  c: BerthClient,
  ids: { container_id: string; exec_id: string },
): { result: Promise<WaitResponse__Output>; cancel: () => void } {
  const abort = new AbortController();
  const result = c.tasks.Wait(ids, { deadline: false, signal: abort.signal });
  return { result, cancel: () => abort.abort() };
}

/**
 * Catches the forwarded signals from the moment a command begins. Before a process runs they
 * only mark the command cancelled (so --rm can still clean up); once forward() is set they
 * become Tasks.Kill.
 */
export class SignalRelay {
  cancelled: NodeJS.Signals | undefined;
  private forward: ((sig: number) => void) | undefined;
  private readonly handlers = new Map<NodeJS.Signals, () => void>();
  private onCancel: (() => void) | undefined;

  constructor(private readonly signals: NodeJS.Signals[] = forwardedSignals) {
    for (const s of signals) {
      const h = () => this.got(s);
      this.handlers.set(s, h);
      process.on(s, h);
    }
  }

  private got(s: NodeJS.Signals) {
    if (this.forward) this.forward(constants.signals[s]);
    else if (s === 'SIGINT' || s === 'SIGTERM' || s === 'SIGHUP' || s === 'SIGQUIT') {
      this.cancelled ??= s;
      this.onCancel?.();
    }
  }

  /** Throws if a terminating signal came before there was a process to forward it to. */
  check() {
    if (this.cancelled) throw new Error(`interrupted (${this.cancelled})`);
  }

  whenCancelled(fn: () => void) {
    this.onCancel = fn;
  }

  forwardTo(fn: ((sig: number) => void) | undefined) {
    this.forward = fn;
  }

  dispose() {
    for (const [s, h] of this.handlers) process.off(s, h);
    this.handlers.clear();
  }
}

export interface ProcessTarget {
  containerId: string;
  /** '' for the task's init process */
  execId: string;
}

/**
 * Waits on, starts and runs a created process to its exit; resolves with its exit status.
 * The IO must have been created for it; it is drained but not closed here.
 */
export async function startAndWait(c: BerthClient, target: ProcessTarget, io: ClientIO, relay: SignalRelay): Promise<number> {
  const tasks = c.tasks;
  const ids = { container_id: target.containerId, exec_id: target.execId };
  const wait = waitWithoutDeadline(c, ids);
  // an early failure of Wait is reported after Start's, which says more
  wait.result.catch(() => undefined);
  relay.check();
  try {
    await tasks.Start(ids);
  } catch (err) {
    wait.cancel();
    throw err;
  }
  return attach(
    c,
    ids,
    io,
    relay,
    wait.result.then((r) => r.exit_status),
  );
}

/**
 * Runs a started process to its exit (`exited` resolves with its status): signals forwarded as
 * Tasks.Kill, the pty resized at once and on SIGWINCH, CloseIO at the end of stdin, the output
 * drained before it resolves with the status.
 */
export async function attach(
  c: BerthClient,
  ids: { container_id: string; exec_id: string },
  io: ClientIO,
  relay: SignalRelay,
  exited: Promise<number>,
): Promise<number> {
  const tasks = c.tasks;
  const kill = (signal: number) => {
    tasks.Kill({ ...ids, signal, all: false }).catch(() => undefined);
  };
  relay.forwardTo(kill);
  // a signal that came while Start was on its way is delivered now
  if (relay.cancelled) kill(constants.signals[relay.cancelled]);

  // one ResizePty at a time, each with the size when it is sent: berthd serves calls side by
  // side, so two in flight (stty sets columns and rows apart: two SIGWINCHes) could land in the
  // wrong order and leave the pty at the first size
  let resizing: Promise<unknown> = Promise.resolve();
  let queued = false;
  const resize = () => {
    if (queued) return;
    queued = true;
    resizing = resizing.then(() => {
      queued = false;
      const size = ClientIO.terminalSize();
      return size ? tasks.ResizePty({ ...ids, ...size }).catch(() => undefined) : undefined;
    });
  };
  if (io.paths.terminal) {
    resize();
    process.stdout.on('resize', resize);
  }
  let done = false;
  io.start(() => {
    // once the process has exited there is nobody to tell, and the daemon is busy deleting it
    if (!done) tasks.CloseIO({ ...ids, stdin: true }).catch(() => undefined);
  });
  try {
    const status = await exited;
    done = true;
    await io.drain();
    return status;
  } finally {
    relay.forwardTo(undefined);
    process.stdout.off('resize', resize);
  }
}
