import { grpcServicePlugin, type Plugin, PluginType } from '../plugin.ts';
import { Exchange } from './exchange.ts';
import { eventsService } from './service.ts';

export const exchangePlugin: Plugin<Exchange> = {
  type: PluginType.event,
  id: 'exchange',
  async init() {
    return new Exchange();
  },
};

export const eventsServicePlugin = grpcServicePlugin('events', PluginType.event, eventsService);
