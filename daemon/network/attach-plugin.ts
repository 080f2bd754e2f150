import { createNetns, removeNamespace } from '../../native/namespaces.ts';
import type { Plugin } from '../plugin.ts';
import { Attacher } from './attach.ts';
import { CniRunner } from './cni/runner.ts';
import { type NetworkPlugin, networkPluginType } from './plugin.ts';

/**
 * The task attacher (io.berth.network.v1.attach): networking for the tasks of containers labelled
 * `io.berth/network` (the runtime calls it around every task's life), over the network store and
 * the CNI runner. Every attachment left on disk is read at start: their ports stay reserved, and
 * the runtime releases those whose task is gone once it has found its tasks again. The store
 * learns from it which containers use a network.
 */
export const attachPlugin: Plugin<Attacher> = {
  type: networkPluginType,
  id: 'attach',
  requires: [networkPluginType],
  async init(ctx) {
    const network = ctx.get<NetworkPlugin>(networkPluginType, 'cni');
    const attacher = new Attacher({
      dir: network.settings.stateDir,
      networks: network.store,
      cni: new CniRunner({ binDirs: network.settings.binDirs, log: ctx.log }),
      netns: { create: createNetns, remove: removeNamespace },
      log: ctx.log,
    });
    await attacher.load();
    network.store.useAttachments(attacher);
    return attacher;
  },
};
