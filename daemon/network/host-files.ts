import { isIPv4 } from 'node:net';
import { parseExtraHost } from '../../core/spec/network.ts';

/**
 * The text of the three files berthd writes for a container with networking (bind-mounted at
 * /etc/hosts, /etc/hostname and /etc/resolv.conf), as Docker writes them.
 */

/** Docker's fallback when the host has no usable resolver (only loopback ones, as systemd-resolved's stub). */
export const fallbackNameservers = ['8.8.8.8', '8.8.4.4'];

export interface DnsChoice {
  dns?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
}

/**
 * resolv.conf from the host's: its loopback nameservers dropped (they do not answer inside the
 * container's own network namespace) unless `keepLoopback` (host networking), Google's public
 * resolvers when none is left; --dns, --dns-search and --dns-option replace the host's lines.
 */
export function resolvConf(hostText: string, choice: DnsChoice, keepLoopback = false): string {
  const nameservers: string[] = [];
  const search: string[] = [];
  const options: string[] = [];
  for (const raw of hostText.split('\n')) {
    const fields = raw
      .replace(/[#;].*$/, '')
      .trim()
      .split(/\s+/);
    const [key, ...values] = fields;
    if (key === 'nameserver' && values[0] && (keepLoopback || !isLoopback(values[0]))) nameservers.push(values[0]);
    // a later search or domain line replaces an earlier one (resolv.conf(5))
    else if (key === 'search' || key === 'domain') search.splice(0, search.length, ...values);
    else if (key === 'options') options.push(...values);
  }
  const servers = choice.dns?.length ? choice.dns : nameservers.length > 0 ? nameservers : fallbackNameservers;
  const lines = servers.map((s) => `nameserver ${s}`);
  const domains = choice.dnsSearch?.length ? choice.dnsSearch : search;
  if (domains.length > 0) lines.push(`search ${domains.join(' ')}`);
  const opts = choice.dnsOptions?.length ? choice.dnsOptions : options;
  if (opts.length > 0) lines.push(`options ${opts.join(' ')}`);
  return `${lines.join('\n')}\n`;
}

function isLoopback(address: string): boolean {
  return (isIPv4(address) && address.startsWith('127.')) || address === '::1';
}

/** /etc/hosts: localhost, the extra hosts (--add-host), then the container's own address and name. */
export function hostsFile(hostname: string, address: string | undefined, extraHosts: readonly string[] = []): string {
  const lines = [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'ff00::0\tip6-mcastprefix',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
  ];
  for (const h of extraHosts) {
    const { name, ip } = parseExtraHost(h);
    lines.push(`${ip}\t${name}`);
  }
  if (address) lines.push(`${address}\t${hostname}`);
  return `${lines.join('\n')}\n`;
}

/** The host's /etc/hosts with the extra hosts appended (host networking). */
export function hostHostsFile(hostText: string, extraHosts: readonly string[] = []): string {
  const text = hostText === '' || hostText.endsWith('\n') ? hostText : `${hostText}\n`;
  return (
    text +
    extraHosts
      .map((h) => parseExtraHost(h))
      .map(({ name, ip }) => `${ip}\t${name}\n`)
      .join('')
  );
}

/**
 * A container's hostname when its spec sets none: its short id, as Docker's (the first 12 digits
 * of a 64-hex id), else its name cut to the 63 bytes a DNS label may have.
 */
export function defaultHostname(id: string): string {
  return /^[0-9a-f]{64}$/.test(id) ? id.slice(0, 12) : id.slice(0, 63);
}
