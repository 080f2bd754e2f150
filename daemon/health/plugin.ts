import { PluginType, type Plugin } from '../plugin.ts';
import { healthService, type HealthService } from './service.ts';

export const healthcheckPlugin: Plugin<HealthService> = {
  type: PluginType.grpc,
  id: 'healthcheck',
  async init() {
    return healthService();
  },
};
