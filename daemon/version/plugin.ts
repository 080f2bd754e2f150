import { type GrpcService, type Plugin, PluginType } from '../plugin.ts';
import { versionService } from './service.ts';

export const versionServicePlugin: Plugin<GrpcService> = {
  type: PluginType.grpc,
  id: 'version',
  async init() {
    return versionService();
  },
};
