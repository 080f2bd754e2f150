import type { GarbageCollector } from '../gc/collector.ts';
import type { MetadataDB } from '../metadata/db.ts';
import { grpcServicePlugin, type Plugin, PluginType } from '../plugin.ts';
import { leasesService } from './service.ts';
import { LeaseStore } from './store.ts';

export const leasePlugin: Plugin<LeaseStore> = {
  type: PluginType.lease,
  id: 'manager',
  requires: [PluginType.metadata, PluginType.gc],
  async init(ctx) {
    const gc = ctx.get<GarbageCollector>(PluginType.gc);
    return new LeaseStore(ctx.get<MetadataDB>(PluginType.metadata), (sync) => gc.afterDelete(sync));
  },
};

export const leasesServicePlugin = grpcServicePlugin('leases', PluginType.lease, leasesService);
