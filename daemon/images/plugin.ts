import type { Exchange } from '../events/exchange.ts';
import type { GarbageCollector } from '../gc/collector.ts';
import type { MetadataDB } from '../metadata/db.ts';
import { grpcServicePlugin, type Plugin, PluginType } from '../plugin.ts';
import { imagesService } from './service.ts';
import { ImageStore } from './store.ts';

/** The image store (containerd's io.containerd.service.v1 images-service). */
export const imagesPlugin: Plugin<ImageStore> = {
  type: PluginType.service,
  id: 'images-service',
  requires: [PluginType.metadata, PluginType.event, PluginType.gc],
  async init(ctx) {
    const gc = ctx.get<GarbageCollector>(PluginType.gc);
    const store = new ImageStore(ctx.get<MetadataDB>(PluginType.metadata), ctx.get<Exchange>(PluginType.event), (sync) => gc.afterDelete(sync));
    gc.register(store.gcKind());
    return store;
  },
};

export const imagesServicePlugin = grpcServicePlugin('images', PluginType.service, imagesService, 'images-service');
