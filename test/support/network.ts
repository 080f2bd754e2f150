import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeIsolation } from '../../daemon/network/isolation.ts';

/**
 * Networking for test daemons. Tests run in parallel, so every test berthd gets a default bridge
 * and subnet of its own (startBerthd puts them in its config and on `b.network`), and everything a
 * daemon's networks made on the host is removed when the test daemon is cleaned up.
 */

export interface TestNetwork {
  /** the default network's bridge device, `bt` + 8 digits */
  bridge: string;
  /** the default network's subnet, a random 10.2xx.y.0/24 */
  subnet: string;
  /** where `network create` without --subnet takes its /24s: a random 10.2xx.y.0/20 */
  pool: string;
}

const random = (n: number) => Math.floor(Math.random() * n);

export function uniqueTestNetwork(): TestNetwork {
  const second = 200 + random(56);
  let poolSecond = 200 + random(56);
  while (poolSecond === second) poolSecond = 200 + random(56);
  return {
    bridge: `bt${String(random(1e8)).padStart(8, '0')}`,
    subnet: `10.${second}.${random(256)}.0/24`,
    pool: `10.${poolSecond}.${16 * random(16)}.0/20`,
  };
}

/**
 * The system conflists a test berthd reads: none (a dir that does not exist), so that a test that
 * writes the host's /etc/cni/net.d (for `ctr run --cni`) changes no other test's networks.
 */
export const noSystemConfDir = '/nonexistent/berth-test-cni-conf';

/** The config table that gives a berthd this default network (and the system conflists of confDir). */
export function networkConfigToml(n: TestNetwork, confDir = noSystemConfDir): string {
  return [
    '[plugins."io.berth.network.v1.cni"]',
    `default_bridge = "${n.bridge}"`,
    `default_subnet = "${n.subnet}"`,
    `subnet_pool = "${n.pool}"`,
    `conf_dir = "${confDir}"`,
    '',
  ].join('\n');
}

export function linkExists(name: string): boolean {
  return existsSync(`/sys/class/net/${name}`);
}

/** The filter table's rules (`iptables -S` lines) that name this interface. */
export function rulesFor(iface: string): string[] {
  const r = spawnSync('iptables', ['-w', '-t', 'filter', '-S'], { encoding: 'utf8' });
  return (r.stdout ?? '').split('\n').filter((line) => line.split(' ').includes(iface));
}

/** The bridge devices of berth's own conflists under a daemon's root. */
export function bridgesUnder(root: string): string[] {
  const dir = join(root, 'net.d');
  if (!existsSync(dir)) return [];
  const bridges: string[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.conflist'))) {
    try {
      const list = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { plugins?: Array<{ type?: string; bridge?: string }> };
      for (const p of list.plugins ?? []) if (p.type === 'bridge' && typeof p.bridge === 'string') bridges.push(p.bridge);
    } catch {
      // a broken file made no bridge
    }
  }
  return bridges;
}

/**
 * Removes what a test daemon's networks left on the host: each bridge device that exists and each
 * bridge's isolation rules (one `iptables -S` to see whether there are any).
 */
export async function removeTestBridges(bridges: string[]): Promise<void> {
  const unique = [...new Set(bridges)];
  for (const bridge of unique) if (linkExists(bridge)) spawnSync('ip', ['link', 'delete', 'dev', bridge]);
  if (unique.length === 0) return;
  const r = spawnSync('iptables', ['-w', '-t', 'filter', '-S'], { encoding: 'utf8' });
  if (r.status !== 0) return; // no iptables: no rules either
  const words = new Set((r.stdout ?? '').split(/\s+/));
  for (const bridge of unique) if (words.has(bridge)) await removeIsolation(bridge);
}
