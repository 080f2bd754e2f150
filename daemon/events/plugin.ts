import { PluginType, type Plugin, type GrpcService } from '../plugin.ts';
import { Exchange } from './exchange.ts';
import { eventsService } from './service.ts';

export const exchangePlugin: Plugin<Exchange> = {
  type: PluginType.event,
  id: 'exchange',
  async init() {
    return new Exchange();
  },
};

export const eventsServicePlugin: Plugin<GrpcService> = {
  type: PluginType.grpc,
  id: 'events',
  requires: [PluginType.event],
  async init(ctx) {
    return eventsService(ctx.get<Exchange>(PluginType.event));
  },
};
