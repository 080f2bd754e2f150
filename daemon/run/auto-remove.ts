import { unpackAnyOf } from '../../core/any.ts';
import { isCode } from '../../core/errors.ts';
import { autoRemoveLabel } from '../../core/spec/names.ts';
import { removeFifosOf } from '../../core/stdio-fifos.ts';
import type { ContainerStore } from '../containers/store.ts';
import type { Exchange } from '../events/exchange.ts';
import type { Logger } from '../log.ts';
import type { TaskManager } from '../runtime/manager.ts';
import type { SnapshotStore } from '../snapshots/store.ts';

export interface AutoRemoveDeps {
  containers: ContainerStore;
  snapshotters: Map<string, SnapshotStore>;
  tasks: TaskManager;
  exchange: Exchange;
  namespaces: () => Promise<string[]>;
  /** where the anonymous volumes of a removed container go */
  volumes?: { removeAnonymous(ns: string, sources: readonly string[]): Promise<string[]> };
  log: Logger;
}

const key = (ns: string, id: string) => `${ns}/${id}`;

/**
 * Docker's AutoRemove for berth: a container labelled io.berth.auto-remove=true is removed (task,
 * snapshot, record, and the client's stdio FIFOs if they are the usual ones) once its init process
 * exits, by berthd, whoever started it and whether or not its client is still there. At start-up,
 * the labelled containers whose process ended while berthd was away go the same way.
 */
export class AutoRemover {
  /** removals under way, so that a new run of the same id waits for the old one to be gone */
  private readonly removing = new Map<string, Promise<void>>();

  constructor(private readonly deps: AutoRemoveDeps) {}

  /** Follows exits from now on, then removes what ended before. */
  async start(): Promise<void> {
    this.deps.exchange.subscribe(['topic=="/tasks/exit"'], (e) => {
      let exit: { container_id: string; id: string };
      try {
        exit = unpackAnyOf(e.event, 'containerd.events.TaskExit');
      } catch {
        return;
      }
      // the init process's exit: an exec's id is its own
      if (exit.id === exit.container_id) this.remove(e.namespace, exit.container_id);
    });
    for (const ns of await this.deps.namespaces()) {
      for (const c of await this.deps.containers.list(ns, [`labels."${autoRemoveLabel}"==true`])) {
        if (!this.deps.tasks.has(ns, c.id) || (await this.taskStopped(ns, c.id))) this.remove(ns, c.id);
      }
    }
  }

  private async taskStopped(ns: string, id: string): Promise<boolean> {
    const state = await this.deps.tasks
      .get(ns, id)
      .state('')
      .catch(() => undefined);
    return state?.status === 'STOPPED';
  }

  /**
   * Resolves once no removal of this container is under way; one whose process has exited but
   * whose exit has not been seen yet (it is on its way) is removed first.
   */
  async settled(ns: string, id: string): Promise<void> {
    const k = key(ns, id);
    if (!this.removing.has(k) && this.deps.tasks.has(ns, id) && (await this.taskStopped(ns, id))) this.remove(ns, id);
    await this.removing.get(k);
  }

  /** Removes the container if it carries the label; failures are logged. */
  private remove(ns: string, id: string): void {
    const k = key(ns, id);
    if (this.removing.has(k)) return;
    const done = this.removeNow(ns, id)
      .catch((err: Error) => this.deps.log.warn('cannot remove an auto-remove container', { namespace: ns, id, error: err.message }))
      .finally(() => this.removing.delete(k));
    this.removing.set(k, done);
  }

  private async removeNow(ns: string, id: string): Promise<void> {
    const { containers, tasks, snapshotters } = this.deps;
    const container = await containers.get(ns, id).catch((err) => {
      if (isCode(err, 'NotFound')) return undefined;
      throw err;
    });
    if (container?.labels[autoRemoveLabel] !== 'true') return;
    if (tasks.has(ns, id)) {
      const state = await tasks.get(ns, id).state('');
      await tasks.delete(ns, id).catch((err) => {
        // someone else deleted it first
        if (!isCode(err, 'NotFound')) throw err;
      });
      removeFifosOf(id, [state.stdin, state.stdout, state.stderr]);
    }
    const snapshots = snapshotters.get(container.snapshotter);
    if (snapshots && container.snapshotKey) {
      await snapshots.remove(ns, container.snapshotKey).catch((err) => {
        if (!isCode(err, 'NotFound')) throw err;
      });
    }
    await containers.delete(ns, id).catch((err) => {
      if (!isCode(err, 'NotFound')) throw err;
    });
    // its anonymous volumes go with it, as docker run --rm's do (named ones stay)
    if (this.deps.volumes) await this.deps.volumes.removeAnonymous(ns, mountSources(container.spec?.value));
  }
}

/** The sources of a spec's bind mounts (a spec that does not parse has none). */
function mountSources(spec: Uint8Array | undefined): string[] {
  try {
    const s = JSON.parse(Buffer.from(spec ?? []).toString('utf8')) as { mounts?: Array<{ source?: string }> };
    return (s.mounts ?? []).flatMap((m) => (m.source ? [m.source] : []));
  } catch {
    return [];
  }
}
