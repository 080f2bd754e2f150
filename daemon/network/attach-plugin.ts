import { join } from 'node:path';
import { createNetns, removeNetns } from '../../native/netns.ts';
import { type Plugin, SkipPlugin } from '../plugin.ts';
import { Attacher } from './attach.ts';
import { CniRunner } from './cni/runner.ts';
import type { NetworkLookup } from './cni/types.ts';

export const networkPluginType = 'io.berth.network.v1';

/** What the network plugin (io.berth.network.v1.cni) gives the attacher. */
interface NetworkPluginInstance {
  store: NetworkLookup;
  settings: { binDirs: string[] };
}

/**
 * The task attacher (io.berth.network.v1.attach): networking for the tasks of containers labelled
 * `io.berth/network` (the runtime calls it around every task's life), over the network store and
 * the CNI runner. Every attachment left on disk is read at start: their ports stay reserved, and
 * the runtime releases those whose task is gone once it has found its tasks again.
 */
export const attachPlugin: Plugin<Attacher> = {
  type: networkPluginType,
  id: 'attach',
  requires: [networkPluginType],
  async init(ctx) {
    let network: NetworkPluginInstance;
    try {
      network = ctx.get<NetworkPluginInstance>(networkPluginType, 'cni');
    } catch {
      throw new SkipPlugin('no network store (io.berth.network.v1.cni)');
    }
    const attacher = new Attacher({
      dir: join(ctx.config.state, 'net'),
      networks: network.store,
      cni: new CniRunner({ binDirs: network.settings.binDirs, log: ctx.log }),
      netns: { create: createNetns, remove: removeNetns },
      log: ctx.log,
    });
    await attacher.load();
    return attacher;
  },
};
