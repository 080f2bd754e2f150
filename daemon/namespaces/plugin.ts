import { PluginType, type Plugin, type GrpcService } from '../plugin.ts';
import type { MetadataDB } from '../metadata/db.ts';
import type { Exchange } from '../events/exchange.ts';
import { NamespaceStore } from './store.ts';
import { namespacesService } from './service.ts';

export const namespacesServicePlugin: Plugin<GrpcService> = {
  type: PluginType.grpc,
  id: 'namespaces',
  requires: [PluginType.metadata, PluginType.event],
  async init(ctx) {
    return namespacesService(new NamespaceStore(ctx.get<MetadataDB>(PluginType.metadata), ctx.get<Exchange>(PluginType.event)));
  },
};
