import type { ContainerForTask } from './manager.ts';

/**
 * What the runtime lets another module do around a task's life (berthd's network attacher): set
 * things up before the bundle is written, and release them whenever the task goes away.
 */
export interface TaskHooks {
  /**
   * Runs under the task's lock before its bundle is written; may return the spec to write instead
   * (the JSON bytes). A failure fails the Create (nothing of the task is made).
   */
  prepare(ns: string, container: ContainerForTask): Promise<Uint8Array | undefined>;
  /**
   * The task is gone (deleted, its monitor or shim died, its Create failed after prepare, or its
   * leftover bundle was removed): called under the task's lock, on every one of those paths.
   * It logs what it cannot undo rather than throw.
   */
  released(ns: string, id: string): Promise<void>;
  /** The tasks ("namespace/id" pairs) the hooks hold something for: after a restart those without a task are released. */
  held(): Array<{ namespace: string; id: string }>;
}
