import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readCgroup, sumSamples } from './cgroup-stats.ts';

// cgroup trees laid out as the kernel shows them, under a temporary "mount"
let mount: string | undefined;
afterEach(() => {
  if (mount) rmSync(mount, { recursive: true, force: true });
  mount = undefined;
});
const files = (dir: string, content: Record<string, string>) => {
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(content)) writeFileSync(join(dir, name), text);
};

describe('readCgroup', () => {
  it('v2: CPU from cpu.stat, memory from memory.current/max/stat (anon as RSS), processes from pids.current', async () => {
    mount = mkdtempSync(join(tmpdir(), 'berth-cg2-'));
    files(mount, { 'cgroup.controllers': 'cpu memory pids\n' });
    files(join(mount, 'k8s.io', 'pod'), {
      'cpu.stat': 'usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n',
      'memory.current': '50000000\n',
      'memory.max': 'max\n',
      'memory.stat': 'anon 30000000\nfile 20000000\ninactive_file 15000000\npgfault 9000\npgmajfault 3\n',
      'pids.current': '4\n',
    });
    expect(await readCgroup('/k8s.io/pod', mount)).toEqual({
      cpuNs: 2_500_000_000n,
      memoryUsage: 50_000_000n,
      memoryLimit: undefined,
      inactiveFile: 15_000_000n,
      rss: 30_000_000n,
      pageFaults: 9000n,
      majorPageFaults: 3n,
      processes: 4n,
    });
    writeFileSync(join(mount, 'k8s.io', 'pod', 'memory.max'), '268435456\n');
    expect((await readCgroup('k8s.io/pod', mount))?.memoryLimit).toBe(268_435_456n);
  });

  it('v1: cpuacct.usage, memory.usage_in_bytes and the total_ counters of memory.stat, an unlimited limit as none', async () => {
    mount = mkdtempSync(join(tmpdir(), 'berth-cg1-'));
    const rel = join('k8s.io', 'pod');
    files(join(mount, 'cpuacct', rel), { 'cpuacct.usage': '123456789\n' });
    files(join(mount, 'memory', rel), {
      'memory.usage_in_bytes': '40000000\n',
      'memory.limit_in_bytes': '9223372036854771712\n',
      'memory.stat': 'rss 1\ninactive_file 2\ntotal_rss 25000000\ntotal_inactive_file 5000000\ntotal_pgfault 700\ntotal_pgmajfault 1\n',
    });
    files(join(mount, 'pids', rel), { 'pids.current': '2\n' });
    expect(await readCgroup('/k8s.io/pod', mount)).toEqual({
      cpuNs: 123_456_789n,
      memoryUsage: 40_000_000n,
      memoryLimit: undefined,
      inactiveFile: 5_000_000n,
      rss: 25_000_000n,
      pageFaults: 700n,
      majorPageFaults: 1n,
      processes: 2n,
    });
  });

  it('a cgroup that is not there (never made, or removed) has no reading, and is no error', async () => {
    mount = mkdtempSync(join(tmpdir(), 'berth-cg1-'));
    expect(await readCgroup('/k8s.io/gone', mount)).toBeUndefined();
    // removed between the reads of its files: one controller's directory is gone
    files(join(mount, 'cpuacct', 'k8s.io', 'half'), { 'cpuacct.usage': '1\n' });
    expect(await readCgroup('/k8s.io/half', mount)).toBeUndefined();
  });

  it('sums several readings, without a common limit', () => {
    const s = { cpuNs: 1n, memoryUsage: 10n, memoryLimit: 100n, inactiveFile: 2n, rss: 5n, pageFaults: 7n, majorPageFaults: 1n, processes: 1n };
    expect(sumSamples([s, s])).toEqual({
      cpuNs: 2n,
      memoryUsage: 20n,
      memoryLimit: undefined,
      inactiveFile: 4n,
      rss: 10n,
      pageFaults: 14n,
      majorPageFaults: 2n,
      processes: 2n,
    });
    expect(sumSamples([s])).toBe(s);
    expect(sumSamples([])).toBeUndefined();
  });
});
