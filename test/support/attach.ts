import { spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createLogger } from '../../daemon/log.ts';
import { Attacher } from '../../daemon/network/attach.ts';
import { CniRunner } from '../../daemon/network/cni/runner.ts';
import { createNetns, removeNamespace } from '../../native/namespaces.ts';
import type { Berthd } from './harness.ts';

/** Runs a program, its output as text. */
export function sh(cmd: string, args: string[], input = ''): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input, timeout: 30_000 });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** A TCP port nothing on the host listens on now (the kernel's pick). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host: '0.0.0.0', port: 0 }, () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A container's network namespace file under a test berthd's state. */
export function netnsOf(b: Berthd, ns: string, id: string): string {
  return join(b.state, 'net', ns, id, 'netns');
}

/** The IPAM leases a daemon's networks hold (host-local: one file per address under `<root>/cni/networks/<network>/`). */
export function leases(b: Berthd): string[] {
  const dir = join(b.root, 'cni', 'networks');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((net) =>
    readdirSync(join(dir, net))
      .filter((f) => f !== 'lock' && !f.startsWith('last_reserved_ip'))
      .map((f) => `${net}/${f}`),
  );
}

/** The interfaces attached to a bridge (the host ends of containers' veths). */
export function bridgePorts(bridge: string): string[] {
  if (!existsSync(`/sys/class/net/${bridge}/brif`)) return [];
  return readdirSync(`/sys/class/net/${bridge}/brif`);
}

function iptablesLines(): string[] {
  return ['nat', 'filter'].flatMap((table) => sh('iptables-save', ['-t', table]).stdout.split('\n'));
}

/** iptables rules (nat and filter) the CNI plugins made for a container: they carry its CNI id in a comment. */
export function containerRules(cniId: string): string[] {
  // iptables-save writes the comment's quotes escaped: id: \"default-web\"
  return iptablesLines().filter((l) => l.includes(`id: \\"${cniId}\\"`) || l.includes(`id: "${cniId}"`));
}

/** The chains those rules jump to (portmap's CNI-DN-…, the bridge's masquerading CNI-…). */
export function containerChains(cniId: string): string[] {
  return [...new Set(containerRules(cniId).flatMap((l) => /-j (CNI-[\w-]+)/.exec(l)?.[1] ?? []))].filter((c) => !c.startsWith('CNI-HOSTPORT-'));
}

/** Which of these chains still exist. */
export function existingChains(chains: string[]): string[] {
  const declared = new Set(iptablesLines().flatMap((l) => (l.startsWith(':') ? [l.slice(1).split(' ')[0]!] : [])));
  return chains.filter((c) => declared.has(c));
}

/** What a container's networking leaves on the host (what must be gone once its task is). */
export function leftovers(b: Berthd, ns: string, id: string) {
  return {
    leases: leases(b),
    veths: bridgePorts(b.network.bridge),
    netnsDir: existsSync(join(b.state, 'net', ns, id)),
    rules: containerRules(`${ns}-${id}`),
  };
}

export const noLeftovers = { leases: [], veths: [], netnsDir: false, rules: [] };

/** A UDP port nothing on the host has bound now. */
export function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.once('error', reject);
    socket.bind({ address: '0.0.0.0', port: 0 }, () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}

/** The n-th address of a /24 subnet (10.2.3.0/24, 5 → 10.2.3.5). */
export function addressIn(subnet: string, n: number): string {
  return `${subnet.split('.').slice(0, 3).join('.')}.${n}`;
}

/** A node program: a UDP echo server on port 5353 that prints "ready" once bound. */
export const udpEcho = `
  const s = require('node:dgram').createSocket('udp4');
  s.on('message', (m, from) => s.send('echo: ' + m, from.port, from.address));
  s.bind(5353, () => console.log('ready'));
`;

/** Sends a datagram and resolves with the first answer (an error after 5 s). */
export function udpRoundTrip(host: string, port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error(`no UDP answer from ${host}:${port} in 5 s`));
    }, 5000);
    socket.once('message', (m) => {
      clearTimeout(timer);
      socket.close();
      resolve(m.toString());
    });
    socket.send(text, port, host);
  });
}

/**
 * CNI DEL for every attachment a killed test daemon left under `<state>/net` (its containers were
 * killed with it, so no task Delete released them): each with the conflist its ADD used, as a
 * restarted berthd would. Nothing runs when no container had networking.
 */
export async function releaseAttachments(netDir: string): Promise<void> {
  if (!existsSync(netDir) || readdirSync(netDir).length === 0) return;
  const attacher = new Attacher({
    dir: netDir,
    networks: { get: (name) => Promise.reject(new Error(`not needed: ${name}`)) },
    cni: new CniRunner(),
    netns: { create: createNetns, remove: removeNamespace },
    log: createLogger('error'),
  });
  await attacher.load();
  for (const { namespace, id } of attacher.held()) await attacher.released(namespace, id);
}
