import { join } from 'node:path';
import { hostPlatform } from '../../core/platform.ts';
import type { ContentStore } from '../content/store.ts';
import { grpcServicePlugin, type Plugin, PluginType } from '../plugin.ts';
import { WalkingDiffer } from './differ.ts';
import { diffService } from './service.ts';

/** containerd's plugin type for differs (not in PluginType: only this module uses it). */
export const differType = 'io.containerd.differ.v1';

export const walkingDifferPlugin: Plugin<WalkingDiffer> = {
  type: differType,
  id: 'walking',
  requires: [PluginType.content],
  async init(ctx) {
    ctx.platforms.push({ ...hostPlatform, variant: '' });
    return new WalkingDiffer(ctx.get<ContentStore>(PluginType.content), join(ctx.config.state, 'diff'));
  },
};

export const diffServicePlugin = grpcServicePlugin('diff', differType, diffService, 'walking');

/** Both diff plugins, for registration in daemon/plugins.ts. */
export const diffPlugins: Plugin[] = [walkingDifferPlugin, diffServicePlugin];
