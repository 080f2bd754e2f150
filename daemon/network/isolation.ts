import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/**
 * Isolation between berth's bridges, in two stages as Docker does it: FORWARD jumps to stage 1,
 * which sends what comes in on a berth bridge and leaves on another interface to stage 2, which
 * drops it when that interface is another berth bridge. The CNI firewall plugin accepts all of a
 * container's traffic in its CNI-FORWARD chain, which it inserts first in FORWARD once it runs;
 * it jumps to CNI-ADMIN before its own rules (the chain its README leaves to admins), so stage 1
 * is jumped to from there too: traffic between bridges is dropped whichever chain comes first.
 */
export const isolationChains = { stage1: 'BERTH-ISOLATION-1', stage2: 'BERTH-ISOLATION-2', cniAdmin: 'CNI-ADMIN' } as const;

async function iptables(args: string[]): Promise<void> {
  await exec('iptables', ['-w', ...args]);
}

async function succeeds(args: string[]): Promise<boolean> {
  return iptables(args).then(
    () => true,
    () => false,
  );
}

async function ensureChain(chain: string): Promise<void> {
  if (await succeeds(['-t', 'filter', '-S', chain, '1'])) return;
  try {
    await iptables(['-t', 'filter', '-N', chain]);
  } catch (err) {
    // another berthd may have made it meanwhile
    if (!(await succeeds(['-t', 'filter', '-S', chain, '1']))) throw err;
  }
}

async function ensureRule(chain: string, rule: string[], first = false): Promise<void> {
  if (await succeeds(['-t', 'filter', '-C', chain, ...rule])) return;
  await iptables(first ? ['-t', 'filter', '-I', chain, '1', ...rule] : ['-t', 'filter', '-A', chain, ...rule]);
}

function bridgeRules(bridge: string): Array<[string, string[]]> {
  return [
    [isolationChains.stage1, ['-i', bridge, '!', '-o', bridge, '-j', isolationChains.stage2]],
    [isolationChains.stage2, ['-o', bridge, '-j', 'DROP']],
  ];
}

/** Makes the shared chains and their jumps (kept when berth's networks go, as portmap keeps its own). */
async function ensureChains(): Promise<void> {
  for (const chain of [isolationChains.stage1, isolationChains.stage2, isolationChains.cniAdmin]) await ensureChain(chain);
  await ensureRule('FORWARD', ['-j', isolationChains.stage1], true);
  await ensureRule(isolationChains.cniAdmin, ['-j', isolationChains.stage1], true);
}

/** Isolates a berth bridge from the other berth bridges; doing it again changes nothing. */
export async function ensureIsolation(bridge: string): Promise<void> {
  await ensureChains();
  for (const [chain, rule] of bridgeRules(bridge)) await ensureRule(chain, rule);
}

/** Removes a bridge's isolation rules (every copy; none is fine). */
export async function removeIsolation(bridge: string): Promise<void> {
  for (const [chain, rule] of bridgeRules(bridge)) {
    while (await succeeds(['-t', 'filter', '-D', chain, ...rule])) {
      // deleted one copy
    }
  }
}
