import { isIP } from 'node:net';

/**
 * Where and how to reach a registry: the endpoint for a reference's domain and its transport
 * options. Mirrors and per-host config files (containerd's hosts.toml) build on this later.
 */
export interface HostOptions {
  /**
   * true: plain HTTP. false: HTTPS even on loopback. Unset: plain HTTP for localhost and
   * loopback addresses (as containerd's MatchLocalhost) unless `ca` or `skipVerify` asks for TLS.
   */
  plainHttp?: boolean;
  /** PEM of CA certificates trusted in addition to the system's */
  ca?: string | Buffer;
  /** accept any server certificate (--skip-verify) */
  skipVerify?: boolean;
}

export interface Endpoint {
  scheme: 'http' | 'https';
  /** host[:port] requests go to */
  host: string;
  /** the domain as written in references (for messages and credentials) */
  domain: string;
}

export function isLoopback(hostPort: string): boolean {
  let host = hostPort;
  const m = /^\[(.*)\](?::\d+)?$/.exec(hostPort);
  if (m) host = m[1];
  else if (hostPort.split(':').length === 2) host = hostPort.split(':')[0];
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

export function endpointFor(domain: string, opts: HostOptions = {}): Endpoint {
  const host = domain === 'docker.io' ? 'registry-1.docker.io' : domain;
  const plain = opts.plainHttp ?? (isLoopback(host) && opts.ca === undefined && !opts.skipVerify);
  return { scheme: plain ? 'http' : 'https', host, domain };
}
