import type { Exchange } from '../events/exchange.ts';
import type { GarbageCollector } from '../gc/collector.ts';
import type { MetadataDB } from '../metadata/db.ts';
import { grpcServicePlugin, type Plugin, PluginType } from '../plugin.ts';
import { contentKind, ingestKind } from './gc.ts';
import { contentService } from './service.ts';
import { ContentStore } from './store.ts';

export const contentPlugin: Plugin<ContentStore> = {
  type: PluginType.content,
  id: 'content',
  requires: [PluginType.metadata, PluginType.event, PluginType.gc],
  async init(ctx) {
    const gc = ctx.get<GarbageCollector>(PluginType.gc);
    const store = new ContentStore(await ctx.rootDir('content'), ctx.get<MetadataDB>(PluginType.metadata), ctx.get<Exchange>(PluginType.event), () =>
      gc.schedule(),
    );
    await store.init();
    gc.register(contentKind(store));
    gc.register(ingestKind(store));
    ctx.exports.root = store.root;
    return store;
  },
};

export const contentServicePlugin = grpcServicePlugin('content', PluginType.content, contentService);
