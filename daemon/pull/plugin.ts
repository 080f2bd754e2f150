import { defaultHostsDir } from '../../core/registry/hosts.ts';
import type { ContentStore } from '../content/store.ts';
import type { WalkingDiffer } from '../diff/differ.ts';
import { differType } from '../diff/plugin.ts';
import type { ImageStore } from '../images/store.ts';
import type { LeaseStore } from '../leases/store.ts';
import { type GrpcService, type Plugin, PluginType } from '../plugin.ts';
import type { SnapshotStore } from '../snapshots/store.ts';
import { Puller } from './pull.ts';
import { pullService } from './service.ts';
import { defaultConcurrentUnpacks } from './unpack.ts';

/**
 * berth's server-side pull (io.containerd.grpc.v1.pull): the berth.services.pull.v1.Pull
 * service over the content, image, lease and snapshot stores and the walking differ.
 * Settings: config_path, the registry hosts directory (containerd's certs.d layout; default
 * /etc/berth/certs.d; "" for none), read afresh by each pull so edits need no restart;
 * max_concurrent_unpacks, the layers of one image applied side by side (default: one per two
 * cores, at most 4).
 */
export interface PullServicePlugin extends GrpcService {
  /** for other services that unpack (berthd's server-side run) */
  puller: Puller;
}

export const pullServicePlugin: Plugin<PullServicePlugin> = {
  type: PluginType.grpc,
  id: 'pull',
  requires: [PluginType.content, PluginType.service, PluginType.lease, PluginType.snapshotter, differType],
  async init(ctx) {
    const configPath = ctx.settings.config_path ?? defaultHostsDir;
    if (typeof configPath !== 'string') throw new Error('config_path must be a string (a directory of <host>/hosts.toml)');
    const unpacks = ctx.settings.max_concurrent_unpacks ?? defaultConcurrentUnpacks;
    if (!Number.isInteger(unpacks) || (unpacks as number) < 1 || (unpacks as number) > 64)
      throw new Error('max_concurrent_unpacks must be a whole number from 1 to 64');
    const puller = new Puller({
      content: ctx.get<ContentStore>(PluginType.content),
      images: ctx.get<ImageStore>(PluginType.service, 'images-service'),
      leases: ctx.get<LeaseStore>(PluginType.lease),
      snapshotters: ctx.getAll<SnapshotStore>(PluginType.snapshotter),
      differ: ctx.get<WalkingDiffer>(differType, 'walking'),
      hostsDir: configPath || undefined,
      maxConcurrentUnpacks: unpacks as number,
    });
    return { ...pullService(puller), puller };
  },
};
