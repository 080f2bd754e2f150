import type { MetadataDB } from '../metadata/db.ts';
import { type Plugin, PluginType } from '../plugin.ts';
import { GarbageCollector } from './collector.ts';

/**
 * The collector runs shortly after anything is deleted (settings: delay_ms, default 100),
 * at start-up, and synchronously when a client asks for it (e.g. Leases.Delete with sync).
 */
export const gcPlugin: Plugin<GarbageCollector> = {
  type: PluginType.gc,
  id: 'scheduler',
  requires: [PluginType.metadata],
  async init(ctx) {
    const delay = Number(ctx.settings.delay_ms ?? 100);
    return new GarbageCollector(ctx.get<MetadataDB>(PluginType.metadata), ctx.log, delay);
  },
  // The first collection waits until every store has registered what it holds, and starts
  // before berthd listens: it holds the metadata lock from its first step, so a client's first
  // writes (an ingest not yet referenced by anything) come after it, never in the middle of it.
  ready(gc) {
    gc.start();
  },
};
