import { join } from 'node:path';
import { invalidArgument } from '../../core/errors.ts';
import { grpcServicePlugin, type Plugin } from '../plugin.ts';
import { parseCidr4 } from './ipv4.ts';
import { networksService } from './service.ts';
import { type NetworkSettings, NetworkStore } from './store.ts';

/** The plugin type of berthd's networking (the store and its settings). */
export const networkPluginType = 'io.berth.network.v1';

/** What the network plugin gives the plugins that require it. */
export interface NetworkPlugin {
  store: NetworkStore;
  settings: NetworkSettings;
}

const table = `plugins."${networkPluginType}.cni"`;
const known = new Set(['bin_dirs', 'conf_dir', 'default_bridge', 'default_subnet', 'subnet_pool']);
/** A Linux interface name: at most 15 bytes (IFNAMSIZ - 1), no slash, colon or space. */
const ifacePattern = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,14}$/;

/** The networking settings from the config table, checked (a wrong value is an error naming the key). */
export function networkSettings(raw: Record<string, unknown>, root: string, state: string): NetworkSettings {
  const str = (key: string, fallback: string) => {
    const v = raw[key] ?? fallback;
    if (typeof v !== 'string' || v === '') throw invalidArgument(`config: ${table}.${key} must be a non-empty string`);
    return v;
  };
  const cidr = (key: string, fallback: string, largest: number) => {
    const v = str(key, fallback);
    try {
      const c = parseCidr4(v);
      if (c.prefix > largest) throw invalidArgument(`the prefix must be /${largest} or shorter`);
    } catch (err) {
      throw invalidArgument(`config: ${table}.${key} = "${v}": ${(err as Error).message}`);
    }
    return v;
  };
  const binDirs = raw.bin_dirs ?? ['/usr/lib/cni', '/opt/cni/bin'];
  if (!Array.isArray(binDirs) || binDirs.some((d) => typeof d !== 'string' || d === ''))
    throw invalidArgument(`config: ${table}.bin_dirs must be a list of strings`);
  const defaultBridge = str('default_bridge', 'berth0');
  if (!ifacePattern.test(defaultBridge))
    throw invalidArgument(`config: ${table}.default_bridge = "${defaultBridge}" is not an interface name (up to 15 of [a-zA-Z0-9_.-])`);
  return {
    binDirs: binDirs as string[],
    confDir: str('conf_dir', '/etc/cni/net.d'),
    ownDir: join(root, 'net.d'),
    ipamDir: join(root, 'cni', 'networks'),
    stateDir: join(state, 'net'),
    defaultBridge,
    defaultSubnet: cidr('default_subnet', '10.77.0.0/16', 30),
    subnetPool: cidr('subnet_pool', '10.78.0.0/16', 24),
  };
}

/**
 * berthd's networks (io.berth.network.v1.cni): the conflist store with its settings. The default
 * network and the isolation rules of berth's bridges are set up here; a wrong setting stops berthd.
 */
export const networkPlugin: Plugin<NetworkPlugin> = {
  type: networkPluginType,
  id: 'cni',
  required: true,
  async init(ctx) {
    const raw = ctx.settings;
    for (const key of Object.keys(raw)) if (!known.has(key)) ctx.log.warn('unknown network setting ignored', { key: `${table}.${key}` });
    const settings = networkSettings(raw, ctx.config.root, ctx.config.state);
    const store = new NetworkStore(settings, ctx.log);
    await store.init();
    return { store, settings };
  },
};

/** The berth.services.networks.v1.Networks service (io.containerd.grpc.v1.networks). */
export const networksServicePlugin = grpcServicePlugin<NetworkPlugin>('networks', networkPluginType, (p) => networksService(p.store));
