import { promises as fs } from 'node:fs';
import { isIPv4 } from 'node:net';
import { join } from 'node:path';
import { invalidArgument } from '../../core/errors.ts';
import type { Logger } from '../log.ts';
import type { Network, NetworkConfigList, PluginConf } from './cni/types.ts';
import { firstHost, parseCidr4 } from './ipv4.ts';

/** The file names CNI's own loader reads (libcni: ConfFiles with these extensions). */
const extensions = ['.conflist', '.conf', '.json'];

/**
 * berth keeps a network's labels in its own conflist under this top-level key. CNI ignores
 * unknown top-level keys of a list (a plugin only sees its own entry of `plugins`, plus
 * cniVersion, name, runtimeConfig and prevResult), so no plugin ever sees them.
 */
export const labelsKey = 'io.berth.labels';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Reads a network configuration list: `name`, `cniVersion` and `plugins` (each an object with a
 * string `type`). A single plugin's configuration (a `.conf` file: `type` at the top) is wrapped
 * into a list of one, as libcni's ConfListFromConf does.
 */
export function parseConflist(text: string, source: string): NetworkConfigList {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw invalidArgument(`${source}: not JSON: ${(err as Error).message}`);
  }
  if (!isObject(doc)) throw invalidArgument(`${source}: a network configuration must be a JSON object`);
  if (doc.plugins === undefined && typeof doc.type === 'string') {
    const { name, cniVersion, disableCheck: _, ...plugin } = doc;
    doc = { name, cniVersion, plugins: [plugin] };
  }
  const list = doc as Record<string, unknown>;
  if (typeof list.name !== 'string' || list.name === '') throw invalidArgument(`${source}: "name" must be a non-empty string`);
  if (typeof list.cniVersion !== 'string' || list.cniVersion === '') throw invalidArgument(`${source}: "cniVersion" must be a non-empty string`);
  if (list.disableCheck !== undefined && typeof list.disableCheck !== 'boolean') throw invalidArgument(`${source}: "disableCheck" must be a boolean`);
  if (!Array.isArray(list.plugins) || list.plugins.length === 0) throw invalidArgument(`${source}: "plugins" must be a non-empty list`);
  list.plugins.forEach((p: unknown, i: number) => {
    if (!isObject(p) || typeof p.type !== 'string' || p.type === '') throw invalidArgument(`${source}: plugins[${i}] needs a string "type"`);
  });
  return list as unknown as NetworkConfigList;
}

/**
 * Every configuration list in `dir` (`*.conflist`, `*.conf`, `*.json`), sorted by file name. A
 * file that cannot be read or parsed is skipped with a warning; a missing dir has none.
 */
export async function loadConflists(dir: string, log: Logger): Promise<Array<{ path: string; list: NetworkConfigList }>> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    log.warn('cannot read CNI config dir', { dir, error: (err as Error).message });
    return [];
  }
  const out: Array<{ path: string; list: NetworkConfigList }> = [];
  for (const name of names.filter((n) => extensions.some((e) => n.endsWith(e))).sort()) {
    const path = join(dir, name);
    try {
      out.push({ path, list: parseConflist(await fs.readFile(path, 'utf8'), path) });
    } catch (err) {
      log.warn('skipping a CNI config that cannot be used', { path, error: (err as Error).message });
    }
  }
  return out;
}

interface IpamRange {
  subnet?: unknown;
  gateway?: unknown;
}

/** The subnets and gateway of a host-local IPAM (its `ranges`, or the older flat `subnet`). */
function hostLocalAddresses(plugin: PluginConf): { subnets: string[]; gateway?: string } {
  const ipam = plugin.ipam;
  if (!isObject(ipam) || ipam.type !== 'host-local') return { subnets: [] };
  const ranges: IpamRange[] = [];
  if (typeof ipam.subnet === 'string') ranges.push({ subnet: ipam.subnet, gateway: ipam.gateway });
  if (Array.isArray(ipam.ranges)) {
    for (const set of ipam.ranges) if (Array.isArray(set)) ranges.push(...set.filter(isObject));
  }
  const subnets: string[] = [];
  let gateway: string | undefined;
  for (const r of ranges) {
    if (typeof r.subnet !== 'string') continue;
    subnets.push(r.subnet);
    if (gateway !== undefined) continue;
    if (typeof r.gateway === 'string') gateway = r.gateway;
    else if (isIPv4(r.subnet.split('/')[0] ?? '')) {
      try {
        gateway = firstHost(parseCidr4(r.subnet, true));
      } catch {
        // not a usable IPv4 block: no gateway berth can tell
      }
    }
  }
  return { subnets, gateway };
}

/** What berth shows of a list: subnets and gateway from its host-local IPAM, the bridge's name. */
export function networkFrom(list: NetworkConfigList, path: string, owner: Network['owner'], isDefault: boolean): Network {
  let subnets: string[] = [];
  let gateway: string | undefined;
  let bridge: string | undefined;
  for (const plugin of list.plugins) {
    if (plugin.type === 'bridge' && bridge === undefined) bridge = typeof plugin.bridge === 'string' ? plugin.bridge : 'cni0';
    if (subnets.length === 0) ({ subnets, gateway } = hostLocalAddresses(plugin));
  }
  const raw = (list as unknown as Record<string, unknown>)[labelsKey];
  const labels: Record<string, string> = {};
  if (isObject(raw)) for (const [k, v] of Object.entries(raw)) if (typeof v === 'string') labels[k] = v;
  return { name: list.name, list, path, owner, subnets, gateway, bridge, default: isDefault, labels };
}
