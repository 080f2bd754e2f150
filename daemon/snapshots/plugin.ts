import { hostPlatform } from '../../core/platform.ts';
import type { Exchange } from '../events/exchange.ts';
import type { GarbageCollector } from '../gc/collector.ts';
import type { MetadataDB } from '../metadata/db.ts';
import { type GrpcService, type InitContext, type Plugin, PluginType } from '../plugin.ts';
import { NativeSnapshotter } from './native.ts';
import { OverlaySnapshotter } from './overlay.ts';
import { snapshotsService } from './service.ts';
import type { Snapshotter } from './snapshotter.ts';
import { SnapshotStore } from './store.ts';

/**
 * A snapshotter plugin: the backend under <root>/snapshots/<id>, wrapped in the namespaced store
 * and registered with the collector. Its instance is the store, which the gRPC service uses.
 */
function snapshotterPlugin(id: string, backend: (root: string) => Promise<Snapshotter>): Plugin<SnapshotStore> {
  return {
    type: PluginType.snapshotter,
    id,
    requires: [PluginType.metadata, PluginType.event, PluginType.gc],
    async init(ctx: InitContext) {
      const root = await ctx.rootDir(`snapshots/${id}`);
      ctx.exports.root = root;
      ctx.platforms.push({ ...hostPlatform, variant: '' });
      const gc = ctx.get<GarbageCollector>(PluginType.gc);
      const store = new SnapshotStore(id, await backend(root), ctx.get<MetadataDB>(PluginType.metadata), ctx.get<Exchange>(PluginType.event), () =>
        gc.schedule(),
      );
      await store.init();
      gc.register(store.gcKind());
      return store;
    },
  };
}

export const overlayPlugin = snapshotterPlugin('overlayfs', (root) => OverlaySnapshotter.create(root));
export const nativePlugin = snapshotterPlugin('native', async (root) => new NativeSnapshotter(root));

export const snapshotsServicePlugin: Plugin<GrpcService> = {
  type: PluginType.grpc,
  id: 'snapshots',
  requires: [PluginType.snapshotter],
  async init(ctx) {
    return snapshotsService(ctx.getAll<SnapshotStore>(PluginType.snapshotter));
  },
};
