import { failedPrecondition } from '../../core/errors.ts';
import { hostPlatform } from '../../core/platform.ts';
import { networkLabel } from '../../core/spec/names.ts';
import type { ContainerStore } from '../containers/store.ts';
import type { Exchange } from '../events/exchange.ts';
import { networkPluginType } from '../network/plugin.ts';
import { type Plugin, PluginType } from '../plugin.ts';
import type { TaskHooks } from './hooks.ts';
import { TaskManager } from './manager.ts';
import { inspectOciRuntime } from './oci-runtime.ts';

/** The hooks when the attacher did not load: a container that asks for networking cannot have a task. */
const withoutNetworking: TaskHooks = {
  async prepare(_ns, container) {
    if (container.labels[networkLabel] === undefined) return undefined;
    throw failedPrecondition(`container ${container.id} asks for networking (label ${networkLabel}) but berthd's network plugin did not load (see its log)`);
  },
  async released() {},
  held: () => [],
};

/**
 * The v2 runtime (containerd's io.containerd.runtime.v2.task): berthd runs io.containerd.runc.v2
 * itself (runc and a berth-monitor per process); other runtimes, or one mapped to a binary by
 * `shims = { "io.containerd.runc.v2" = "/usr/bin/containerd-shim-runc-v2" }`, run under a shim.
 */
export const runtimePlugin: Plugin<TaskManager> = {
  type: PluginType.runtime,
  id: 'task',
  requires: [PluginType.event, PluginType.service],
  async init(ctx) {
    ctx.platforms.push({ ...hostPlatform, variant: '' });
    const shims = (ctx.settings.shims ?? {}) as Record<string, string>;
    // the network attacher, when it loaded (it is registered before this plugin)
    const attacher = ctx.getAll<TaskHooks>(networkPluginType).get('attach');
    if (!attacher) ctx.log.warn('no network attacher: the tasks of containers that ask for networking cannot be created');
    const manager = new TaskManager(
      { root: ctx.config.root, state: ctx.config.state, daemonAddress: ctx.config.address, shims },
      ctx.get<Exchange>(PluginType.event),
      ctx.log,
      attacher ?? withoutNetworking,
    );
    // Report the default OCI runtime once, loudly when it has known container escapes.
    const runtimeBinary = 'runc';
    await inspectOciRuntime(runtimeBinary).then(
      (r) => {
        ctx.log.info('OCI runtime', { path: r.path, name: r.name, version: r.version });
        for (const w of r.warnings) ctx.log.warn(`OCI runtime is vulnerable: ${w}`, { path: r.path });
      },
      (err: Error) => ctx.log.warn('OCI runtime not usable', { binary: runtimeBinary, error: err.message }),
    );
    await manager.listenEvents();
    const containers = ctx.get<ContainerStore>(PluginType.service, 'containers-service');
    await manager.restore(async (ns, id) => (await containers.get(ns, id)).runtime.name);
    return manager;
  },
};
