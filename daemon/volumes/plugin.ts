import type { ContainerStore } from '../containers/store.ts';
import type { MetadataDB } from '../metadata/db.ts';
import { grpcServicePlugin, type Plugin, PluginType } from '../plugin.ts';
import { volumesService } from './service.ts';
import { containerMounts, VolumeStore } from './store.ts';

/** berthd's volumes (<root>/volumes), in use while a container's spec mounts them. */
export const volumeStorePlugin: Plugin<VolumeStore> = {
  type: PluginType.internal,
  id: 'volumes',
  requires: [PluginType.metadata, PluginType.service],
  async init(ctx) {
    const containers = ctx.get<ContainerStore>(PluginType.service, 'containers-service');
    const store = new VolumeStore(await ctx.rootDir('volumes'), containerMounts(ctx.get<MetadataDB>(PluginType.metadata), containers));
    await store.init();
    return store;
  },
};

/** The berth.services.volumes.v1.Volumes service (io.containerd.grpc.v1.volumes). */
export const volumesServicePlugin = grpcServicePlugin<VolumeStore>('volumes', PluginType.internal, volumesService, 'volumes');
