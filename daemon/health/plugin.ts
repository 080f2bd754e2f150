import { type Plugin, PluginType } from '../plugin.ts';
import { type HealthService, healthService } from './service.ts';

export const healthcheckPlugin: Plugin<HealthService> = {
  type: PluginType.grpc,
  id: 'healthcheck',
  async init() {
    return healthService();
  },
};
