import type { AnyMessage } from '../../core/any.ts';
import { BerthError, isCode } from '../../core/errors.ts';
import type { Bundle } from './bundle.ts';
import type { ShimLink } from './shim.ts';
import type { ExecOptions, ExitStatus, ProcessState, RuntimeTask } from './task.ts';

/** A task run by a shim process (runtime v2): every operation is a call on the shim's Task API. */
export class ShimTask implements RuntimeTask {
  private markGone!: (result: ExitStatus) => void;
  /** resolves when the shim died and the task was cleaned up, with the exit it got */
  readonly gone = new Promise<ExitStatus>((resolve) => (this.markGone = resolve));

  constructor(
    readonly namespace: string,
    readonly id: string,
    readonly bundle: Bundle,
    readonly shim: ShimLink,
    readonly pid: number,
    readonly runtime: string,
  ) {}

  /** The shim died and the task was cleaned up with this result. */
  ended(result: ExitStatus): void {
    this.markGone(result);
  }

  private get api() {
    return this.shim.client.task;
  }

  /** A call to the shim; a dead shim is Unavailable, as containerd reports it. */
  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (isCode(err, 'Unavailable')) throw new BerthError('Unavailable', `shim of task ${this.id} is not reachable: ${(err as Error).message}`);
      throw err;
    }
  }

  start(execId: string): Promise<{ pid: number }> {
    return this.call(() => this.api.Start({ id: this.id, exec_id: execId }));
  }

  state(execId: string, timeoutMs?: number): Promise<ProcessState> {
    return this.call(() => this.api.State({ id: this.id, exec_id: execId }, { timeoutMs }));
  }

  async kill(execId: string, signal: number, all: boolean): Promise<void> {
    await this.call(() => this.api.Kill({ id: this.id, exec_id: execId, signal, all }));
  }

  async exec(execId: string, o: ExecOptions): Promise<void> {
    await this.call(() =>
      this.api.Exec({ id: this.id, exec_id: execId, terminal: o.terminal, stdin: o.stdin, stdout: o.stdout, stderr: o.stderr, spec: o.spec }),
    );
  }

  async resizePty(execId: string, width: number, height: number): Promise<void> {
    await this.call(() => this.api.ResizePty({ id: this.id, exec_id: execId, width, height }));
  }

  async closeIO(execId: string, stdin: boolean): Promise<void> {
    await this.call(() => this.api.CloseIO({ id: this.id, exec_id: execId, stdin }));
  }

  async pause(): Promise<void> {
    await this.call(() => this.api.Pause({ id: this.id }));
  }

  async resume(): Promise<void> {
    await this.call(() => this.api.Resume({ id: this.id }));
  }

  async pids() {
    return (await this.call(() => this.api.Pids({ id: this.id }))).processes;
  }

  async update(resources: AnyMessage, annotations: Record<string, string>): Promise<void> {
    await this.call(() => this.api.Update({ id: this.id, resources, annotations }));
  }

  async stats(): Promise<AnyMessage | null> {
    return (await this.call(() => this.api.Stats({ id: this.id }))).stats as AnyMessage | null;
  }

  deleteProcess(execId: string): Promise<ExitStatus> {
    return this.call(() => this.api.Delete({ id: this.id, exec_id: execId }));
  }

  wait(execId: string): Promise<Omit<ExitStatus, 'pid'>> {
    return Promise.race([this.call(() => this.api.Wait({ id: this.id, exec_id: execId }, { deadline: false })), this.gone]);
  }
}
