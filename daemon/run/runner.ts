import { asInvalidArgument, invalidArgument, isCode, notFound } from '../../core/errors.ts';
import { validateIdentifier } from '../../core/identifiers.ts';
import { hostPlatform, type Platform } from '../../core/platform.ts';
import { formatReference, parseReference } from '../../core/registry/reference.ts';
import { containerRecord } from '../../core/spec/container.ts';
import { autoRemoveLabel } from '../../core/spec/names.ts';
import { buildSpec, type SpecFlags } from '../../core/spec/spec.ts';
import { anyFromMessage, type ContainerStore } from '../containers/store.ts';
import type { ImageStore } from '../images/store.ts';
import { expireLabel, type LeaseStore } from '../leases/store.ts';
import type { Logger } from '../log.ts';
import type { LogStore } from '../logs/store.ts';
import type { Puller } from '../pull/pull.ts';
import type { TaskManager } from '../runtime/manager.ts';
import type { WaitingMonitor } from '../runtime/monitor/index.ts';
import type { RuntimeTask } from '../runtime/task.ts';
import type { SnapshotStore } from '../snapshots/store.ts';
import type { VolumeStore } from '../volumes/store.ts';
import type { AutoRemover } from './auto-remove.ts';
import type { ImageCache } from './image-cache.ts';
import { holdVolumes } from './volumes.ts';

export interface RunInput {
  image: string;
  id: string;
  spec: SpecFlags;
  /** container labels besides the image's */
  labels: Record<string, string>;
  runtime: string;
  runcBinary?: string;
  snapshotter: string;
  platform?: Platform;
  stdio: { stdin: string; stdout: string; stderr: string; terminal: boolean };
  autoRemove: boolean;
}

export interface RunnerDeps {
  images: ImageStore;
  containers: ContainerStore;
  leases: LeaseStore;
  snapshotters: Map<string, SnapshotStore>;
  puller: Puller;
  tasks: TaskManager;
  cache: ImageCache;
  autoRemove: AutoRemover;
  logs: LogStore;
  volumes: VolumeStore;
  log: Logger;
}

/** The lease a run works under until its container record holds the snapshot (as ctr's). */
const leaseLifetimeMs = 24 * 3600 * 1000;

/**
 * berthd's server-side run: what `ctr run` does through a dozen calls (read the image config,
 * unpack if need be, prepare the snapshot, build the spec, create the container, create and start
 * the task), done here in one, with the same spec code. A failure undoes whatever was made.
 */
export class Runner {
  constructor(private readonly deps: RunnerDeps) {}

  /** Runs the container; `warn` hears what the client should tell its user. */
  async run(ns: string, input: RunInput, warn: (message: string) => void = () => undefined): Promise<RuntimeTask> {
    const { deps } = this;
    validateIdentifier(input.id);
    const snapshots = deps.snapshotters.get(input.snapshotter);
    if (!snapshots) throw invalidArgument(`snapshotter ${JSON.stringify(input.snapshotter)} is not available`);
    // the task's monitor starts now, while what it needs is made; unused (a failure first), it goes
    const monitor = deps.tasks.waitingMonitor(input.runtime);
    try {
      return await this.prepareAndRun(ns, input, snapshots, warn, monitor);
    } finally {
      await monitor?.abandon();
    }
  }

  /**
   * A run of `runtime` has given its client what it waited for (the exit, or a detached run's
   * start) or has failed: the moment to spawn the spare monitor the next run will take.
   */
  ended(runtime: string): void {
    this.deps.tasks.keepSpare(runtime);
  }

  private async prepareAndRun(
    ns: string,
    input: RunInput,
    snapshots: SnapshotStore,
    warn: (message: string) => void,
    monitor: WaitingMonitor | undefined,
  ): Promise<RuntimeTask> {
    const { deps } = this;
    // the container of an earlier run with this id is still being removed: wait for it
    await deps.autoRemove.settled(ns, input.id);

    const record = await this.image(ns, input.image);
    const image = await deps.cache.resolve(ns, input.image, record.target, input.platform ?? hostPlatform);
    if (image.chainId === '') throw invalidArgument(`image "${input.image}" has no layers`);
    await this.ensureUnpacked(ns, snapshots, input, image.chainId);

    const undo: Array<() => Promise<unknown>> = [];
    try {
      const lease = (await deps.leases.create(ns, '', { [expireLabel]: new Date(Date.now() + leaseLifetimeMs).toISOString() })).id;
      const dropLease = () => deps.leases.delete(ns, lease);
      undo.push(dropLease);
      // an auto-removed container's snapshot need not survive a crash (berthd removes both at
      // start-up): its record becomes durable with the container's synced record below
      const mounts = await snapshots.prepare(ns, input.id, image.chainId, {}, lease, { durable: !input.autoRemove });
      undo.push(() => snapshots.remove(ns, input.id));
      const volumes = await holdVolumes(deps.volumes, ns, input.spec.mounts ?? [], Object.keys(image.config.Volumes ?? {}), mounts);
      undo.push(() => volumes.discard());
      const flags = { ...input.spec, mounts: volumes.mounts };
      const spec = await deps.cache.withAccounts(input.snapshotter, image.chainId, mounts, (accounts) =>
        asInvalidArgument(() => buildSpec({ namespace: ns, id: input.id, image: image.config, accounts, flags })),
      );
      const wire = asInvalidArgument(() =>
        containerRecord({
          id: input.id,
          image: { name: record.name, labels: record.labels, config: image.config },
          spec,
          runtime: input.runtime,
          runcBinary: input.runcBinary,
          snapshotter: input.snapshotter,
          labels: { ...input.labels, ...(input.autoRemove ? { [autoRemoveLabel]: 'true' } : {}) },
          warn,
        }),
      );
      const runtime = { name: wire.runtime.name, options: anyFromMessage(wire.runtime.options) };
      await deps.containers.create(ns, {
        id: input.id,
        labels: wire.labels,
        image: wire.image,
        runtime,
        spec: anyFromMessage(wire.spec),
        snapshotter: input.snapshotter,
        snapshotKey: input.id,
        extensions: {},
        sandbox: '',
      });
      undo.push(() => deps.containers.delete(ns, input.id));
      // the container record mounts them now: that keeps them in use
      volumes.release();
      // the container holds the snapshot now
      undo.splice(undo.indexOf(dropLease), 1);
      dropLease().catch((err: Error) => deps.log.warn('cannot delete a lease', { namespace: ns, lease, error: err.message }));

      const task = await deps.tasks.create(
        ns,
        { id: input.id, labels: wire.labels, runtime: { name: runtime.name, options: wire.runtime.options ?? null }, spec: wire.spec },
        { rootfs: mounts, ...input.stdio, log: await deps.logs.prepare(ns, input.id, wire.labels), startNext: true, monitor },
      );
      undo.push(() => deps.tasks.delete(ns, input.id));
      await task.start('');
      return task;
    } catch (err) {
      for (const step of undo.reverse()) {
        await step().catch((e: Error) => deps.log.warn('undoing a failed run', { namespace: ns, id: input.id, error: e.message }));
      }
      throw err;
    }
  }

  /**
   * The image record by its name as given, else by the name `pull` normalises it to (`busybox` →
   * `docker.io/library/busybox:latest`), as Docker's run finds what its pull stored.
   */
  private async image(ns: string, name: string) {
    try {
      return await this.deps.images.get(ns, name);
    } catch (err) {
      if (!isCode(err, 'NotFound')) throw err;
      let normal: string;
      try {
        normal = formatReference(parseReference(name));
      } catch {
        throw err;
      }
      if (normal === name) throw err;
      return this.deps.images.get(ns, normal).catch(() => {
        throw notFound(`image "${name}" (${normal}) not found: pull it first`);
      });
    }
  }

  /** Unpacks the image into the snapshotter if its top snapshot is missing (as `ctr run` does). */
  private async ensureUnpacked(ns: string, snapshots: SnapshotStore, input: RunInput, chainId: string): Promise<void> {
    try {
      await snapshots.stat(ns, chainId);
    } catch (err) {
      if (!isCode(err, 'NotFound')) throw err;
      await this.deps.puller.unpack(ns, input.image, { snapshotter: input.snapshotter, platform: input.platform });
    }
  }
}
