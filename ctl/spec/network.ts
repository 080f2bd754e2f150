import { encodeNetworkRequest, formatPort, type NetworkRequest, networkRequestOf, parseExtraHost, parsePublish } from '../../core/spec/network.ts';

/** `berth run`'s network flags as commander gives them. */
export interface NetworkFlags {
  /** --net, repeatable: bridge, a network's name, host or none */
  net?: string[];
  netHost?: boolean;
  publish?: string[];
  ip?: string;
  dns?: string[];
  dnsSearch?: string[];
  dnsOption?: string[];
  addHost?: string[];
}

export interface NetworkChoice {
  request: NetworkRequest;
  /** the user asked for more than containerd gives a ctr-style container (CNI networks, ports, files) */
  needsBerthd: string | undefined;
  /** the JSON of the io.berth/network label */
  label: string;
}

/**
 * The network a `berth run` asks for: the default bridge network unless --net says otherwise
 * (several --net NAME: one interface on each, in order); --net-host is --net host.
 */
export function networkChoice(f: NetworkFlags): NetworkChoice {
  const nets = [...(f.net ?? []), ...(f.netHost ? ['host'] : [])];
  for (const n of nets) if (n === '') throw new Error('--net needs a network name (bridge, NAME, host or none)');
  const special = nets.find((n) => n === 'host' || n === 'none');
  if (special && new Set(nets).size > 1) throw new Error(`--net ${special} cannot be combined with other networks`);
  const mode = special === 'host' ? 'host' : special === 'none' ? 'none' : 'bridge';
  const request: NetworkRequest = {
    mode,
    networks: mode === 'bridge' ? (nets.length > 0 ? [...new Set(nets)] : ['bridge']) : [],
    ports: (f.publish ?? []).map(parsePublish),
  };
  if (f.ip !== undefined) request.ip = f.ip;
  if (f.dns?.length) request.dns = f.dns;
  if (f.dnsSearch?.length) request.dnsSearch = f.dnsSearch;
  if (f.dnsOption?.length) request.dnsOptions = f.dnsOption;
  if (f.addHost?.length) {
    for (const h of f.addHost) parseExtraHost(h);
    request.extraHosts = f.addHost;
  }
  if (request.ports.length > 0 && mode !== 'bridge') throw new Error(`-p publishes a port on a bridge network; it cannot be used with --net ${mode}`);
  if (request.ip !== undefined && mode !== 'bridge') throw new Error(`--ip needs a bridge network; it cannot be used with --net ${mode}`);
  const label = encodeNetworkRequest(request);
  const asked = [
    mode === 'bridge' && nets.length > 0 ? `--net ${nets.join(',')}` : '',
    request.ports.length > 0 ? '-p' : '',
    request.ip !== undefined ? '--ip' : '',
    request.dns || request.dnsSearch || request.dnsOptions ? '--dns' : '',
    request.extraHosts ? '--add-host' : '',
  ].filter(Boolean);
  return { request, label, needsBerthd: asked.length > 0 ? asked.join(', ') : undefined };
}

/** A container's published ports from its label, as `docker ps` shows them; undefined without the label (or with a bad one). */
export function publishedPorts(labels: Record<string, string> | undefined): string[] | undefined {
  try {
    return networkRequestOf(labels)?.ports.map(formatPort);
  } catch {
    return undefined;
  }
}
