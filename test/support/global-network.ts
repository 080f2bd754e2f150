// vitest globalSetup: the host-wide iptables chains CNI's plugins and berthd's isolation make on
// first use and never remove (portmap's CNI-HOSTPORT-*, the firewall plugin's CNI-FORWARD and
// CNI-ADMIN, berthd's BERTH-ISOLATION-*). Each test removes what is its own; the chains themselves
// are shared by tests running side by side, so the run removes those it found absent, at its end.
import { spawnSync } from 'node:child_process';

const shared: Array<[table: string, chain: string]> = [
  ['nat', 'CNI-HOSTPORT-DNAT'],
  ['nat', 'CNI-HOSTPORT-MASQ'],
  ['nat', 'CNI-HOSTPORT-SETMARK'],
  ['filter', 'CNI-FORWARD'],
  ['filter', 'CNI-ADMIN'],
  ['filter', 'BERTH-ISOLATION-1'],
  ['filter', 'BERTH-ISOLATION-2'],
];

const save = (table: string) => spawnSync('iptables-save', ['-t', table], { encoding: 'utf8' }).stdout ?? '';
const iptables = (args: string[]) => spawnSync('iptables', ['-w', ...args], { encoding: 'utf8' });
const present = (table: string, chain: string) => new RegExp(`^:${chain} `, 'm').test(save(table));

/** Removes a chain: every rule that jumps to it, its own rules, then the chain. */
function removeChain(table: string, chain: string): void {
  const own = save(table)
    .split('\n')
    .filter((l) => l.startsWith(`-A ${chain} `) && / -[sd] \d/.test(l));
  // a container's rule here is one a test did not remove: say so, the run's end removes it
  if (own.length > 0) process.stderr.write(`global-network: ${table}/${chain} still held ${own.length} container rules:\n${own.join('\n')}\n`);
  for (const line of save(table).split('\n')) {
    if (line.startsWith('-A ') && line.endsWith(` -j ${chain}`)) {
      // iptables-save quotes as a shell would: let a shell split the rule back into arguments
      spawnSync('sh', ['-c', `iptables -w -t ${table} ${line.replace(/^-A /, '-D ')}`]);
    }
  }
  iptables(['-t', table, '-F', chain]);
  iptables(['-t', table, '-X', chain]);
}

export default function setup(): () => void {
  if (process.getuid?.() !== 0 || spawnSync('sh', ['-c', 'command -v iptables-save']).status !== 0) return () => undefined;
  const before = new Set(shared.filter(([t, c]) => present(t, c)).map(([t, c]) => `${t}/${c}`));
  return () => {
    // jumps between the shared chains go first with their chains, so remove in the order listed
    for (const [table, chain] of shared) if (!before.has(`${table}/${chain}`) && present(table, chain)) removeChain(table, chain);
  };
}
