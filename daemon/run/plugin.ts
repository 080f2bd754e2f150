import type { ContainerStore } from '../containers/store.ts';
import type { ContentStore } from '../content/store.ts';
import type { Exchange } from '../events/exchange.ts';
import type { ImageStore } from '../images/store.ts';
import type { LeaseStore } from '../leases/store.ts';
import type { LogStore } from '../logs/store.ts';
import type { MetadataDB } from '../metadata/db.ts';
import { type GrpcService, type Plugin, PluginType } from '../plugin.ts';
import type { PullServicePlugin } from '../pull/plugin.ts';
import type { TaskManager } from '../runtime/manager.ts';
import type { SnapshotStore } from '../snapshots/store.ts';
import type { VolumeStore } from '../volumes/store.ts';
import { AutoRemover } from './auto-remove.ts';
import { ImageCache } from './image-cache.ts';
import { Runner } from './runner.ts';
import { runService } from './service.ts';

/**
 * berth's server-side run (io.containerd.grpc.v1.run): the berth.services.run.v1.Run service, and
 * the removal of auto-remove containers once their process exits (also of those that exited while
 * berthd was away: at start-up, after the runtime found its tasks again).
 */
export const runServicePlugin: Plugin<GrpcService> = {
  type: PluginType.grpc,
  id: 'run',
  requires: [
    PluginType.metadata,
    PluginType.event,
    PluginType.content,
    PluginType.service,
    PluginType.lease,
    PluginType.snapshotter,
    PluginType.runtime,
    PluginType.internal,
    PluginType.grpc,
  ],
  async init(ctx) {
    const snapshotters = ctx.getAll<SnapshotStore>(PluginType.snapshotter);
    const containers = ctx.get<ContainerStore>(PluginType.service, 'containers-service');
    const tasks = ctx.get<TaskManager>(PluginType.runtime, 'task');
    const db = ctx.get<MetadataDB>(PluginType.metadata);
    const volumes = ctx.get<VolumeStore>(PluginType.internal, 'volumes');
    const autoRemove = new AutoRemover({
      containers,
      snapshotters,
      tasks,
      exchange: ctx.get<Exchange>(PluginType.event),
      namespaces: () => db.listNamespaces(),
      volumes,
      log: ctx.log,
    });
    await autoRemove.start();
    const runner = new Runner({
      images: ctx.get<ImageStore>(PluginType.service, 'images-service'),
      containers,
      leases: ctx.get<LeaseStore>(PluginType.lease),
      snapshotters,
      puller: ctx.get<PullServicePlugin>(PluginType.grpc, 'pull').puller,
      tasks,
      cache: new ImageCache(ctx.get<ContentStore>(PluginType.content)),
      autoRemove,
      logs: ctx.get<LogStore>(PluginType.internal, 'logs'),
      volumes,
      log: ctx.log,
    });
    return runService(runner);
  },
};
