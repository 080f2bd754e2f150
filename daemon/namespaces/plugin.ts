import type { Exchange } from '../events/exchange.ts';
import type { MetadataDB } from '../metadata/db.ts';
import { type GrpcService, type Plugin, PluginType } from '../plugin.ts';
import { namespacesService } from './service.ts';
import { NamespaceStore } from './store.ts';

export const namespacesServicePlugin: Plugin<GrpcService> = {
  type: PluginType.grpc,
  id: 'namespaces',
  requires: [PluginType.metadata, PluginType.event],
  async init(ctx) {
    return namespacesService(new NamespaceStore(ctx.get<MetadataDB>(PluginType.metadata), ctx.get<Exchange>(PluginType.event)));
  },
};
