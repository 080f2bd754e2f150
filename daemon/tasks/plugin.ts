import { PluginType, type Plugin, type GrpcService } from '../plugin.ts';
import type { TaskManager } from '../runtime/manager.ts';
import { tasksService, type ContainerLookup } from './service.ts';

export const tasksServicePlugin: Plugin<GrpcService> = {
  type: PluginType.grpc,
  id: 'tasks',
  requires: [PluginType.runtime, PluginType.service],
  async init(ctx) {
    return tasksService(ctx.get<TaskManager>(PluginType.runtime, 'task'), ctx.get<ContainerLookup>(PluginType.service, 'containers-service'));
  },
};
