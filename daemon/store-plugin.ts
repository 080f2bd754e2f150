import type { Exchange } from './events/exchange.ts';
import type { CollectibleKind, GarbageCollector } from './gc/collector.ts';
import type { MetadataDB } from './metadata/db.ts';
import { type Plugin, PluginType } from './plugin.ts';

/** What a metadata store is built from: the database, the events exchange, and a collection to ask for after a delete. */
type MetadataStoreClass<S> = new (db: MetadataDB, events: Exchange, collect: (sync: boolean) => Promise<void>) => S;

/**
 * A store over the metadata database as one of containerd's io.containerd.service.v1 plugins
 * (`<id>`): it publishes events, asks the collector to run after a delete, and the collector
 * sweeps what it holds.
 */
export function metadataStorePlugin<S extends { gcKind(): CollectibleKind }>(id: string, Store: MetadataStoreClass<S>): Plugin<S> {
  return {
    type: PluginType.service,
    id,
    requires: [PluginType.metadata, PluginType.event, PluginType.gc],
    async init(ctx) {
      const gc = ctx.get<GarbageCollector>(PluginType.gc);
      const store = new Store(ctx.get<MetadataDB>(PluginType.metadata), ctx.get<Exchange>(PluginType.event), (sync) => gc.afterDelete(sync));
      gc.register(store.gcKind());
      return store;
    },
  };
}
