import type { StateResponse__Output } from '../../api/gen/containerd/task/v2/StateResponse.ts';
import type { ProcessInfo__Output } from '../../api/gen/containerd/v1/types/ProcessInfo.ts';
import type { Timestamp } from '../../api/timestamp.ts';
import type { AnyMessage } from '../../core/any.ts';

/** A process as the runtime reports it (containerd.task.v2.StateResponse). */
export type ProcessState = StateResponse__Output;

/** How a process ended. */
export interface ExitStatus {
  pid: number;
  exit_status: number;
  exited_at: Timestamp | null;
}

export interface ExecOptions {
  terminal: boolean;
  stdin: string;
  stdout: string;
  stderr: string;
  /** the process spec (an OCI Process as JSON in an Any) */
  spec: AnyMessage;
}

/**
 * A task berthd runs, whatever runs it: what the Tasks service does with it once it exists.
 * `execId` '' is the task's init process. Failures are BerthErrors with containerd's codes.
 */
export interface RuntimeTask {
  readonly namespace: string;
  readonly id: string;
  /** the init process */
  readonly pid: number;
  /** the container's runtime name, e.g. io.containerd.runc.v2 */
  readonly runtime: string;

  start(execId: string): Promise<{ pid: number }>;
  state(execId: string, timeoutMs?: number): Promise<ProcessState>;
  kill(execId: string, signal: number, all: boolean): Promise<void>;
  exec(execId: string, options: ExecOptions): Promise<void>;
  resizePty(execId: string, width: number, height: number): Promise<void>;
  closeIO(execId: string, stdin: boolean): Promise<void>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  pids(): Promise<ProcessInfo__Output[]>;
  update(resources: AnyMessage, annotations: Record<string, string>): Promise<void>;
  stats(): Promise<AnyMessage | null>;
  /** removes an exec process that has exited */
  deleteProcess(execId: string): Promise<ExitStatus>;
  /** resolves when the process has exited (also when whatever ran it died) */
  wait(execId: string): Promise<Omit<ExitStatus, 'pid'>>;
}
