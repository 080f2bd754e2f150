import type { Exchange } from '../events/exchange.ts';
import type { GarbageCollector } from '../gc/collector.ts';
import type { MetadataDB } from '../metadata/db.ts';
import { grpcServicePlugin, type Plugin, PluginType } from '../plugin.ts';
import { containersService } from './service.ts';
import { ContainerStore } from './store.ts';

export type { AnyValue, Container, ContainerInput, Runtime } from './store.ts';
export { ContainerStore } from './store.ts';

/**
 * The container store (containerd's io.containerd.service.v1 containers-service). The tasks
 * service finds it with ctx.get(PluginType.service, 'containers-service').
 */
export const containersPlugin: Plugin<ContainerStore> = {
  type: PluginType.service,
  id: 'containers-service',
  requires: [PluginType.metadata, PluginType.event, PluginType.gc],
  async init(ctx) {
    const gc = ctx.get<GarbageCollector>(PluginType.gc);
    const store = new ContainerStore(ctx.get<MetadataDB>(PluginType.metadata), ctx.get<Exchange>(PluginType.event), (sync) => gc.afterDelete(sync));
    gc.register(store.gcKind());
    return store;
  },
};

export const containersServicePlugin = grpcServicePlugin('containers', PluginType.service, containersService, 'containers-service');
