import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { alreadyExists, failedPrecondition, invalidArgument, notFound } from '../../core/errors.ts';
import { Mutex } from '../../core/mutex.ts';
import { exists, syncDir } from '../fsutil.ts';
import type { Logger } from '../log.ts';
import type { AttachmentLookup, Network, NetworkConfigList, NetworkLookup } from './cni/types.ts';
import { labelsKey, loadConflists, networkFrom, parseConflist } from './conflist.ts';
import { type Cidr4, contains, firstHost, formatCidr4, ipToNumber, lastAddress, overlaps, parseCidr4, subnetsOf } from './ipv4.ts';
import { ensureIsolation, removeIsolation } from './isolation.ts';

const exec = promisify(execFile);

/** berthd's networking settings ([plugins."io.berth.network.v1.cni"], resolved to paths). */
export interface NetworkSettings {
  /** where CNI plugin binaries are looked up, in order */
  binDirs: string[];
  /** the system's conflists (read only) */
  confDir: string;
  /** berth's own conflists: <root>/net.d */
  ownDir: string;
  /** host-local's dataDir for berth's networks: <root>/cni/networks */
  ipamDir: string;
  /** per-container network state: <state>/net */
  stateDir: string;
  defaultBridge: string;
  defaultSubnet: string;
  /** where `network create` without --subnet takes a free /24 from */
  subnetPool: string;
}

export const defaultNetworkName = 'bridge';
const reservedNames = new Set(['bridge', 'host', 'none']);
const namePattern = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$/;

export interface CreateNetwork {
  name: string;
  subnet?: string;
  gateway?: string;
  labels?: Record<string, string>;
}

/** What the host's interfaces have: each IPv4 address's block, and which interface has it. */
export type HostNetworks = () => Array<{ cidr: string; iface: string }>;

const interfacesOfHost: HostNetworks = () =>
  Object.entries(networkInterfaces()).flatMap(([iface, addrs]) =>
    (addrs ?? []).filter((a) => a.family === 'IPv4' && a.cidr).map((a) => ({ cidr: a.cidr!, iface })),
  );

/** How a store changes the host (replaced in unit tests that run without root). */
export interface HostOps {
  ensureIsolation(bridge: string): Promise<void>;
  removeIsolation(bridge: string): Promise<void>;
  removeBridge(bridge: string): Promise<void>;
}

/** Deletes a bridge device if there is one. */
export async function removeBridgeDevice(bridge: string): Promise<void> {
  if (!(await exists(`/sys/class/net/${bridge}`))) return;
  try {
    await exec('ip', ['link', 'delete', 'dev', bridge]);
  } catch (err) {
    if (await exists(`/sys/class/net/${bridge}`)) throw err;
  }
}

const realHost: HostOps = { ensureIsolation, removeIsolation, removeBridge: removeBridgeDevice };

/** The bridge device of a network berth makes: `br-` and 12 hex digits of its name's sha256 (15 characters, the kernel's limit). */
export function bridgeNameFor(name: string): string {
  return `br-${createHash('sha256').update(name).digest('hex').slice(0, 12)}`;
}

/** The conflist berth writes for a bridge network, as nerdctl's default one is. */
export function bridgeConflist(opts: {
  name: string;
  bridge: string;
  subnet: string;
  gateway: string;
  ipamDir: string;
  labels?: Record<string, string>;
}): NetworkConfigList {
  const list: Record<string, unknown> = {
    cniVersion: '1.0.0',
    name: opts.name,
    plugins: [
      {
        type: 'bridge',
        bridge: opts.bridge,
        isGateway: true,
        ipMasq: true,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          ranges: [[{ subnet: opts.subnet, gateway: opts.gateway }]],
          routes: [{ dst: '0.0.0.0/0' }],
          dataDir: opts.ipamDir,
        },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
      { type: 'firewall' },
      { type: 'tuning' },
    ],
  };
  if (opts.labels && Object.keys(opts.labels).length > 0) list[labelsKey] = opts.labels;
  return list as unknown as NetworkConfigList;
}

/** Until the task attacher provides one: no container uses any network. */
export const noAttachments: AttachmentLookup = {
  get: () => undefined,
  usersOf: () => [],
};

/**
 * berth's networks: its own conflists (`<root>/net.d/<name>.conflist`, the default `bridge`
 * among them) and the system's (conf_dir, read only). A name in both is berth's.
 */
export class NetworkStore implements NetworkLookup {
  private readonly lock = new Mutex();
  private readonly warnedShadowed = new Set<string>();
  private readonly host: HostOps;
  private readonly hostNetworks: HostNetworks;
  /** which containers use a network: the task attacher's, once it is there (useAttachments) */
  attachments: AttachmentLookup = noAttachments;

  constructor(
    readonly settings: NetworkSettings,
    private readonly log: Logger,
    opts: { host?: HostOps; hostNetworks?: HostNetworks } = {},
  ) {
    this.host = opts.host ?? realHost;
    this.hostNetworks = opts.hostNetworks ?? interfacesOfHost;
  }

  /** The task attacher tells the store who uses which network (rm refuses a network in use). */
  useAttachments(lookup: AttachmentLookup): void {
    this.attachments = lookup;
  }

  /** Writes the default network when it is missing or differs from the settings, and isolates every berth bridge. */
  async init(): Promise<void> {
    await fs.mkdir(this.settings.ownDir, { recursive: true, mode: 0o755 });
    const { defaultBridge: bridge, defaultSubnet: subnet } = this.settings;
    const wanted = bridgeConflist({ name: defaultNetworkName, bridge, subnet, gateway: firstHost(parseCidr4(subnet)), ipamDir: this.settings.ipamDir });
    const path = this.ownPath(defaultNetworkName);
    let current: unknown;
    try {
      current = JSON.parse(await fs.readFile(path, 'utf8'));
    } catch {
      // missing or unreadable: written below
    }
    if (JSON.stringify(current) !== JSON.stringify(wanted)) {
      if (current !== undefined) this.log.info('rewriting the default network for the settings', { path, bridge, subnet });
      await this.writeList(wanted);
      await this.forgetBridge(current, bridge);
    }
    for (const net of await this.list()) {
      if (net.owner !== 'berth' || !net.bridge) continue;
      try {
        await this.host.ensureIsolation(net.bridge);
      } catch (err) {
        this.log.warn('cannot isolate a network from the others', { network: net.name, bridge: net.bridge, error: (err as Error).message });
      }
    }
  }

  /** berth's networks, then the system's, each sorted by file name. */
  async list(): Promise<Network[]> {
    const own = (await loadConflists(this.settings.ownDir, this.log)).filter(({ path }) => path.endsWith('.conflist'));
    const system = await loadConflists(this.settings.confDir, this.log);
    const out = own.map(({ path, list }) => networkFrom(list, path, 'berth', list.name === defaultNetworkName));
    const names = new Set(out.map((n) => n.name));
    for (const { path, list } of system) {
      if (names.has(list.name)) {
        if (!this.warnedShadowed.has(path)) {
          this.warnedShadowed.add(path);
          this.log.warn('a system network has the name of one of berth: berth uses its own', { name: list.name, path });
        }
        continue;
      }
      names.add(list.name);
      out.push(networkFrom(list, path, 'system', false));
    }
    return out;
  }

  async get(name: string): Promise<Network> {
    const found = (await this.list()).find((n) => n.name === name);
    if (!found) throw notFound(`network "${name}" not found`);
    return found;
  }

  create(req: CreateNetwork): Promise<Network> {
    return this.lock.run(async () => {
      const { name } = req;
      if (!namePattern.test(name)) throw invalidArgument(`invalid network name "${name}": up to 64 of [a-zA-Z0-9_.-], starting with a letter or digit`);
      if (reservedNames.has(name)) throw invalidArgument(`network name "${name}" is reserved`);
      const known = await this.list();
      if (known.some((n) => n.name === name)) throw alreadyExists(`network "${name}" already exists`);
      const subnet = req.subnet !== undefined ? this.checkSubnet(req.subnet, known) : this.pickSubnet(known);
      const gateway = req.gateway !== undefined ? checkGateway(req.gateway, subnet) : firstHost(subnet);
      const list = bridgeConflist({
        name,
        bridge: bridgeNameFor(name),
        subnet: formatCidr4(subnet),
        gateway,
        ipamDir: this.settings.ipamDir,
        labels: req.labels,
      });
      await this.writeList(list);
      try {
        await this.host.ensureIsolation(bridgeNameFor(name));
      } catch (err) {
        await fs.rm(this.ownPath(name), { force: true });
        throw err;
      }
      this.log.info('network created', { name, subnet: formatCidr4(subnet) });
      return networkFrom(list, this.ownPath(name), 'berth', false);
    });
  }

  remove(name: string): Promise<void> {
    return this.lock.run(async () => {
      const net = await this.get(name);
      if (net.default) throw failedPrecondition(`network "${name}" is the default network and cannot be removed`);
      if (net.owner === 'system') throw failedPrecondition(`network "${name}" is the system's (${net.path}): berth does not remove it`);
      const users = this.attachments.usersOf(name);
      if (users.length > 0) throw failedPrecondition(`network "${name}" is in use by ${users.length === 1 ? 'container' : 'containers'} ${users.join(', ')}`);
      // the file goes last: a removal that fails half way can be run again
      if (net.bridge) {
        await this.host.removeBridge(net.bridge);
        await this.host.removeIsolation(net.bridge);
      }
      await fs.rm(join(this.settings.ipamDir, name), { recursive: true, force: true });
      await fs.rm(net.path, { force: true });
      await syncDir(this.settings.ownDir);
      this.log.info('network removed', { name });
    });
  }

  /** A default network's former bridge (the settings changed) is no longer berth's: its isolation rules go. The device stays while containers may be on it. */
  private async forgetBridge(former: unknown, bridge: string): Promise<void> {
    let old: string | undefined;
    try {
      old = networkFrom(parseConflist(JSON.stringify(former), 'the former default network'), '', 'berth', true).bridge;
    } catch {
      return; // missing or unreadable: it isolated nothing
    }
    if (old === undefined || old === bridge) return;
    try {
      await this.host.removeIsolation(old);
    } catch (err) {
      this.log.warn("cannot remove the former default bridge's isolation rules", { bridge: old, error: (err as Error).message });
    }
  }

  private ownPath(name: string): string {
    return join(this.settings.ownDir, `${name}.conflist`);
  }

  /** Writes a list to a temporary file and renames it into place, so a reader never sees half of it. */
  private async writeList(list: NetworkConfigList): Promise<void> {
    const text = `${JSON.stringify(list, null, 2)}\n`;
    parseConflist(text, list.name);
    const path = this.ownPath(list.name);
    const tmp = join(this.settings.ownDir, `.${list.name}.conflist.tmp`);
    const file = await fs.open(tmp, 'w', 0o644);
    try {
      await file.writeFile(text);
      await file.sync();
    } finally {
      await file.close();
    }
    await fs.rename(tmp, path);
    await syncDir(this.settings.ownDir);
  }

  /** A subnet asked for: an IPv4 block that overlaps no known network and no address of the host. */
  private checkSubnet(text: string, known: Network[]): Cidr4 {
    const subnet = parseCidr4(text);
    if (subnet.prefix > 30) throw invalidArgument(`subnet ${text} is too small: a network needs at least a /30`);
    const clash = this.overlapping(subnet, known);
    if (clash) throw failedPrecondition(`subnet ${text} overlaps ${clash}`);
    return subnet;
  }

  /** The first /24 of the pool that overlaps nothing. */
  private pickSubnet(known: Network[]): Cidr4 {
    const pool = parseCidr4(this.settings.subnetPool);
    for (const candidate of subnetsOf(pool, 24)) if (!this.overlapping(candidate, known)) return candidate;
    throw failedPrecondition(`no free /24 left in the subnet pool ${this.settings.subnetPool}: give --subnet`);
  }

  /** What a block overlaps, said for a user (or undefined). */
  private overlapping(subnet: Cidr4, known: Network[]): string | undefined {
    for (const net of known) {
      for (const s of net.subnets) {
        let other: Cidr4;
        try {
          other = parseCidr4(s, true);
        } catch {
          continue; // IPv6 or unreadable: cannot overlap an IPv4 block
        }
        if (overlaps(subnet, other)) return `network "${net.name}" (${s})`;
      }
    }
    for (const { cidr, iface } of this.hostNetworks()) {
      if (overlaps(subnet, parseCidr4(cidr, true))) return `the host's address ${cidr} on ${iface}`;
    }
    return undefined;
  }
}

/** A gateway asked for: an IPv4 address inside the subnet, neither its network nor its broadcast address. */
function checkGateway(gateway: string, subnet: Cidr4): string {
  if (isIPv6(gateway)) throw invalidArgument(`gateway ${gateway}: IPv6 is not supported yet`);
  if (!isIPv4(gateway)) throw invalidArgument(`gateway ${gateway} is not an IPv4 address`);
  const ip = ipToNumber(gateway);
  if (!contains(subnet, ip)) throw invalidArgument(`gateway ${gateway} is not inside subnet ${formatCidr4(subnet)}`);
  if (ip === subnet.base || ip === lastAddress(subnet))
    throw invalidArgument(`gateway ${gateway} is the network or broadcast address of ${formatCidr4(subnet)}`);
  return gateway;
}
