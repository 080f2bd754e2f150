import { type GrpcService, type Plugin, type PluginRegistry, PluginType } from '../plugin.ts';
import { introspectionService, serverUuid } from './service.ts';

/** Lists every plugin, so it is made with the registry it reports on. */
export function introspectionPlugin(registry: PluginRegistry): Plugin<GrpcService> {
  return {
    type: PluginType.grpc,
    id: 'introspection',
    async init(ctx) {
      return introspectionService(registry, await serverUuid(ctx.config.root));
    },
  };
}
