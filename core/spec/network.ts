import { isIPv4 } from 'node:net';
import { networkLabel } from './names.ts';

/**
 * The networking a container asks berthd for, carried in its `io.berth/network` label: shared by
 * the CLI (which writes it) and berthd (which reads it when the task is created).
 */

/** One published port, as CNI's portmap plugin takes it (`portMappings`). */
export interface PublishedPort {
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp';
  /** absent: every host address */
  hostIP?: string;
}

export type NetworkMode = 'bridge' | 'none' | 'host';

export interface NetworkRequest {
  mode: NetworkMode;
  /** the CNI networks in order (eth0, eth1, …); only with mode bridge, where there is at least one */
  networks: string[];
  ports: PublishedPort[];
  /** the address on the first network (IPv4) */
  ip?: string;
  dns?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
  /** "name:ip" lines for /etc/hosts */
  extraHosts?: string[];
}

export function encodeNetworkRequest(r: NetworkRequest): string {
  return JSON.stringify(checkRequest(r));
}

/** Reads the label's value; throws an Error saying what is wrong with it. */
export function decodeNetworkRequest(text: string): NetworkRequest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`label ${networkLabel} is not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`label ${networkLabel} must be a JSON object`);
  const o = value as Record<string, unknown>;
  const known = ['mode', 'networks', 'ports', 'ip', 'dns', 'dnsSearch', 'dnsOptions', 'extraHosts'];
  const unknown = Object.keys(o).filter((k) => !known.includes(k));
  if (unknown.length > 0) throw new Error(`label ${networkLabel}: unknown field ${JSON.stringify(unknown[0])}`);
  const r: NetworkRequest = {
    mode: o.mode as NetworkMode,
    networks: strings(o.networks, 'networks') ?? [],
    ports: portsOf(o.ports),
  };
  if (o.ip !== undefined) r.ip = stringOf(o.ip, 'ip');
  for (const key of ['dns', 'dnsSearch', 'dnsOptions', 'extraHosts'] as const) {
    const list = strings(o[key], key);
    if (list) r[key] = list;
  }
  return checkRequest(r);
}

/** The label's request, or undefined when the container has none. */
export function networkRequestOf(labels: Record<string, string> | undefined): NetworkRequest | undefined {
  const text = labels?.[networkLabel];
  return text === undefined ? undefined : decodeNetworkRequest(text);
}

function checkRequest(r: NetworkRequest): NetworkRequest {
  const where = `label ${networkLabel}`;
  if (r.mode !== 'bridge' && r.mode !== 'none' && r.mode !== 'host') throw new Error(`${where}: mode must be "bridge", "none" or "host"`);
  if (r.mode === 'bridge' && r.networks.length === 0) throw new Error(`${where}: mode bridge needs at least one network`);
  if (r.mode !== 'bridge') {
    if (r.networks.length > 0) throw new Error(`${where}: networks cannot be combined with mode ${r.mode}`);
    if (r.ports.length > 0) throw new Error(`ports can only be published on a bridge network, not with network mode ${r.mode}`);
    if (r.ip !== undefined) throw new Error(`an address (--ip) needs a bridge network, not network mode ${r.mode}`);
  }
  const seen = new Set<string>();
  for (const n of r.networks) {
    if (n === '') throw new Error(`${where}: a network name is empty`);
    if (seen.has(n)) throw new Error(`network ${JSON.stringify(n)} is named twice`);
    seen.add(n);
  }
  for (const p of r.ports) checkPort(p);
  if (r.ip !== undefined && !isIPv4(r.ip)) throw new Error(`invalid address ${JSON.stringify(r.ip)} (an IPv4 address)`);
  for (const d of r.dns ?? []) if (!isIP(d)) throw new Error(`invalid DNS server ${JSON.stringify(d)} (an IP address)`);
  for (const s of [...(r.dnsSearch ?? []), ...(r.dnsOptions ?? [])]) {
    if (s === '' || /\s/.test(s)) throw new Error(`invalid DNS search domain or option ${JSON.stringify(s)}`);
  }
  for (const h of r.extraHosts ?? []) parseExtraHost(h);
  return r;
}

function isIP(s: string): boolean {
  return isIPv4(s) || (s.includes(':') && /^[0-9a-fA-F:.]+$/.test(s));
}

function checkPort(p: PublishedPort): void {
  for (const [name, n] of [
    ['host port', p.hostPort],
    ['container port', p.containerPort],
  ] as const) {
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`invalid ${name} ${JSON.stringify(n)} (1-65535)`);
  }
  if (p.protocol !== 'tcp' && p.protocol !== 'udp') throw new Error(`invalid protocol ${JSON.stringify(p.protocol)} (tcp or udp)`);
  if (p.hostIP !== undefined && !isIPv4(p.hostIP)) throw new Error(`invalid host IP ${JSON.stringify(p.hostIP)} (an IPv4 address)`);
}

/** `-p [IP:]HOSTPORT:CONTAINERPORT[/tcp|udp]`, as Docker reads it (without ranges). */
export function parsePublish(value: string): PublishedPort {
  const bad = (why: string) => new Error(`invalid -p "${value}": ${why} (use [IP:]HOSTPORT:CONTAINERPORT[/tcp|udp])`);
  let rest = value;
  let protocol: 'tcp' | 'udp' = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
    const proto = rest.slice(slash + 1).toLowerCase();
    if (proto !== 'tcp' && proto !== 'udp') throw bad(`protocol "${rest.slice(slash + 1)}" is not tcp or udp`);
    protocol = proto;
    rest = rest.slice(0, slash);
  }
  const parts = rest.split(':');
  if (parts.length < 2 || parts.length > 3) throw bad('expected a host port and a container port');
  const [hostIP, hostPort, containerPort] = parts.length === 3 ? parts : [undefined, ...parts];
  const port = (text: string | undefined, what: string) => {
    if (!text || !/^\d+$/.test(text)) throw bad(`${what} "${text ?? ''}" is not a number`);
    const n = Number(text);
    if (n < 1 || n > 65535) throw bad(`${what} ${n} is out of range (1-65535)`);
    return n;
  };
  const p: PublishedPort = { hostPort: port(hostPort, 'host port'), containerPort: port(containerPort, 'container port'), protocol };
  if (hostIP !== undefined && hostIP !== '') {
    if (!isIPv4(hostIP)) throw bad(`host IP "${hostIP}" is not an IPv4 address`);
    if (hostIP !== '0.0.0.0') p.hostIP = hostIP;
  }
  return p;
}

/** `--add-host name:ip` (the address may be IPv6, so the name ends at the first colon). */
export function parseExtraHost(value: string): { name: string; ip: string } {
  const colon = value.indexOf(':');
  const name = colon < 0 ? '' : value.slice(0, colon);
  const ip = colon < 0 ? '' : value.slice(colon + 1);
  if (name === '' || /\s/.test(name) || !isIP(ip)) throw new Error(`invalid extra host "${value}" (use name:ip)`);
  return { name, ip };
}

/** A published port as `docker ps` shows it: 0.0.0.0:8080->80/tcp. */
export function formatPort(p: PublishedPort): string {
  return `${p.hostIP ?? '0.0.0.0'}:${p.hostPort}->${p.containerPort}/${p.protocol}`;
}

function stringOf(v: unknown, name: string): string {
  if (typeof v !== 'string') throw new Error(`label ${networkLabel}: ${name} must be a string`);
  return v;
}

function strings(v: unknown, name: string): string[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) throw new Error(`label ${networkLabel}: ${name} must be a list of strings`);
  return v as string[];
}

function portsOf(v: unknown): PublishedPort[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new Error(`label ${networkLabel}: ports must be a list`);
  return v.map((p) => {
    if (typeof p !== 'object' || p === null) throw new Error(`label ${networkLabel}: a port must be an object`);
    const o = p as Record<string, unknown>;
    const extra = Object.keys(o).filter((k) => !['hostPort', 'containerPort', 'protocol', 'hostIP'].includes(k));
    if (extra.length > 0) throw new Error(`label ${networkLabel}: unknown port field ${JSON.stringify(extra[0])}`);
    const port: PublishedPort = { hostPort: o.hostPort as number, containerPort: o.containerPort as number, protocol: o.protocol as 'tcp' };
    if (o.hostIP !== undefined && o.hostIP !== '') port.hostIP = stringOf(o.hostIP, 'hostIP');
    return port;
  });
}
