import { isIPv4, isIPv6 } from 'node:net';
import { invalidArgument } from '../../core/errors.ts';

/** An IPv4 block: its first address as an unsigned 32-bit number, and its prefix length. */
export interface Cidr4 {
  base: number;
  prefix: number;
}

export function ipToNumber(ip: string): number {
  return ip.split('.').reduce((n, part) => n * 256 + Number(part), 0);
}

export function numberToIp(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

/** The number of addresses in a block of this prefix length. */
const size = (prefix: number) => 2 ** (32 - prefix);

/**
 * Reads `a.b.c.d/n` (IPv4 only: IPv6 is refused with "not supported yet"). The address must be
 * the block's first one unless `hostBitsOk` (an interface's address, e.g. 10.1.2.3/24).
 */
export function parseCidr4(text: string, hostBitsOk = false): Cidr4 {
  const [ip, len, ...rest] = text.split('/');
  if (isIPv6(ip ?? '')) throw invalidArgument(`${text}: IPv6 subnets are not supported yet`);
  const prefix = Number(len);
  if (rest.length > 0 || !isIPv4(ip ?? '') || len === undefined || !/^\d{1,2}$/.test(len) || prefix > 32) {
    throw invalidArgument(`${text} is not an IPv4 CIDR (e.g. 10.4.0.0/24)`);
  }
  const n = ipToNumber(ip!);
  const base = n - (n % size(prefix));
  if (base !== n && !hostBitsOk) throw invalidArgument(`${text}: the address has host bits set (the subnet is ${numberToIp(base)}/${prefix})`);
  return { base, prefix };
}

export function formatCidr4(c: Cidr4): string {
  return `${numberToIp(c.base)}/${c.prefix}`;
}

export function overlaps(a: Cidr4, b: Cidr4): boolean {
  return a.base < b.base + size(b.prefix) && b.base < a.base + size(a.prefix);
}

export function contains(c: Cidr4, ip: number): boolean {
  return ip >= c.base && ip < c.base + size(c.prefix);
}

/** The block's last address (its broadcast address). */
export function lastAddress(c: Cidr4): number {
  return c.base + size(c.prefix) - 1;
}

/** The host-local default gateway: the block's second address (".1"). */
export function firstHost(c: Cidr4): string {
  return numberToIp(c.base + 1);
}

/** The blocks of length `prefix` inside `pool`, in order. */
export function* subnetsOf(pool: Cidr4, prefix: number): Generator<Cidr4> {
  if (prefix < pool.prefix) return;
  for (let base = pool.base; base < pool.base + size(pool.prefix); base += size(prefix)) yield { base, prefix };
}
