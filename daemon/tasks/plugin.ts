import { failedPrecondition } from '../../core/errors.ts';
import type { ContainerStore } from '../containers/store.ts';
import type { LogStore } from '../logs/store.ts';
import { type GrpcService, type Plugin, PluginType } from '../plugin.ts';
import type { TaskManager } from '../runtime/manager.ts';
import { tasksService } from './service.ts';

export const tasksServicePlugin: Plugin<GrpcService> = {
  type: PluginType.grpc,
  id: 'tasks',
  requires: [PluginType.runtime, PluginType.service, PluginType.internal],
  async init(ctx) {
    const store = ctx.get<ContainerStore>(PluginType.service, 'containers-service');
    const logs = ctx.get<LogStore>(PluginType.internal, 'logs');
    return tasksService(ctx.get<TaskManager>(PluginType.runtime, 'task'), {
      async get(ns, id) {
        const c = await store.get(ns, id);
        if (!c.spec) throw failedPrecondition(`container ${id} has no spec`);
        const options = c.runtime.options ? { type_url: c.runtime.options.typeUrl, value: c.runtime.options.value } : null;
        const log = await logs.prepare(ns, id, c.labels);
        return { id: c.id, labels: c.labels, runtime: { name: c.runtime.name, options }, spec: { type_url: c.spec.typeUrl, value: c.spec.value }, log };
      },
    });
  },
};
