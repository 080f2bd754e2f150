import { type Plugin, PluginType } from '../plugin.ts';
import { MetadataDB } from './db.ts';

export const metadataPlugin: Plugin<MetadataDB> = {
  type: PluginType.metadata,
  id: 'level',
  required: true,
  async init(ctx) {
    const dir = await ctx.rootDir('metadata');
    ctx.exports.path = dir;
    return MetadataDB.open(dir);
  },
};
