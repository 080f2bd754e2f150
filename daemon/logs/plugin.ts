import type { ContainerStore } from '../containers/store.ts';
import type { Exchange } from '../events/exchange.ts';
import { type GrpcService, type Plugin, PluginType } from '../plugin.ts';
import type { TaskManager } from '../runtime/manager.ts';
import { logsService } from './service.ts';
import { LogStore } from './store.ts';

/** Where containers' logs are kept (<root>/logs), removed with their containers. */
export const logStorePlugin: Plugin<LogStore> = {
  type: PluginType.internal,
  id: 'logs',
  requires: [PluginType.event],
  async init(ctx) {
    const store = new LogStore(await ctx.rootDir('logs'), ctx.log);
    store.follow(ctx.get<Exchange>(PluginType.event));
    return store;
  },
};

/** berth.services.logs.v1.Logs over the log store. */
export const logsServicePlugin: Plugin<GrpcService> = {
  type: PluginType.grpc,
  id: 'logs',
  requires: [PluginType.internal, PluginType.service, PluginType.runtime],
  async init(ctx) {
    return logsService(
      ctx.get<LogStore>(PluginType.internal, 'logs'),
      ctx.get<ContainerStore>(PluginType.service, 'containers-service'),
      ctx.get<TaskManager>(PluginType.runtime, 'task'),
    );
  },
};
