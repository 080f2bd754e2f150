import { PluginType, type Plugin, type GrpcService } from '../plugin.ts';
import type { MetadataDB } from '../metadata/db.ts';
import type { GarbageCollector } from '../gc/collector.ts';
import { LeaseStore } from './store.ts';
import { leasesService } from './service.ts';

export const leasePlugin: Plugin<LeaseStore> = {
  type: PluginType.lease,
  id: 'manager',
  requires: [PluginType.metadata, PluginType.gc],
  async init(ctx) {
    const gc = ctx.get<GarbageCollector>(PluginType.gc);
    return new LeaseStore(ctx.get<MetadataDB>(PluginType.metadata), async (sync) => {
      if (sync) await gc.collect();
      else gc.schedule();
    });
  },
};

export const leasesServicePlugin: Plugin<GrpcService> = {
  type: PluginType.grpc,
  id: 'leases',
  requires: [PluginType.lease],
  async init(ctx) {
    return leasesService(ctx.get<LeaseStore>(PluginType.lease));
  },
};
