// What the CRI's stats need of a cgroup (CPU time, memory, processes), read with async I/O from
// cgroup v2 (the unified hierarchy at /sys/fs/cgroup) or v1 (one hierarchy per controller, as
// on hybrid hosts), in the fields containerd's CRI reports.
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { Limiter } from '../../core/mutex.ts';
import { cgroupDir, cgroupMount } from '../../core/runc/metrics.ts';

/** One reading of a cgroup; every value is a count (bytes, ns, faults, processes). */
export interface CgroupSample {
  /** CPU time of all cores, ns */
  cpuNs: bigint;
  /** memory.current (v2), memory.usage_in_bytes (v1) */
  memoryUsage: bigint;
  /** the limit; undefined when there is none */
  memoryLimit: bigint | undefined;
  inactiveFile: bigint;
  /** anon (v2, as cAdvisor counts RSS there), total_rss (v1) */
  rss: bigint;
  pageFaults: bigint;
  majorPageFaults: bigint;
  /** processes (pids.current) */
  processes: bigint;
}

/** A limit this high is no limit (the kernel rounds "max" down to a page multiple near 2^63). */
const unlimitedAbove = 1n << 62n;
/** at most 8 cgroup files are read at once, so that listing many pods cannot flood the fs */
const reads = new Limiter(8);

/** The cgroup was removed (ENOENT) or removed while open (ENODEV): it is gone, not broken. */
class Vanished extends Error {}

async function readText(file: string): Promise<string> {
  try {
    return await reads.run(() => fs.readFile(file, 'utf8'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENODEV' || code === 'ESRCH') throw new Vanished(file);
    throw err;
  }
}

/** A file of one number; "max" is undefined. */
async function readNumber(file: string): Promise<bigint | undefined> {
  const s = (await readText(file)).trim();
  return /^\d+$/.test(s) ? BigInt(s) : undefined;
}

/** "key value" lines (memory.stat, cpu.stat). */
async function readKeyed(file: string): Promise<Map<string, bigint>> {
  const m = new Map<string, bigint>();
  for (const line of (await readText(file)).split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v && /^\d+$/.test(v)) m.set(k, BigInt(v));
  }
  return m;
}

let unified: Promise<boolean> | undefined;
function isUnified(mount: string): Promise<boolean> {
  if (mount !== cgroupMount) return probeUnified(mount);
  unified ??= probeUnified(mount);
  return unified;
}
async function probeUnified(mount: string): Promise<boolean> {
  return fs.access(join(mount, 'cgroup.controllers')).then(
    () => true,
    () => false,
  );
}

/**
 * A reading of the cgroup a spec's linux.cgroupsPath names, or undefined when that cgroup does
 * not exist (never made, or removed before or while it was read).
 */
export async function readCgroup(cgroupsPath: string, mount = cgroupMount): Promise<CgroupSample | undefined> {
  const rel = cgroupDir(cgroupsPath);
  try {
    return (await isUnified(mount)) ? await readV2(join(mount, rel)) : await readV1((ctrl) => join(mount, ctrl, rel));
  } catch (err) {
    if (err instanceof Vanished) return undefined;
    throw err;
  }
}

async function readV2(dir: string): Promise<CgroupSample> {
  const [cpu, usage, limit, stat, pids] = await Promise.all([
    readKeyed(join(dir, 'cpu.stat')),
    readNumber(join(dir, 'memory.current')),
    readNumber(join(dir, 'memory.max')),
    readKeyed(join(dir, 'memory.stat')),
    readNumber(join(dir, 'pids.current')),
  ]);
  return {
    cpuNs: (cpu.get('usage_usec') ?? 0n) * 1000n,
    memoryUsage: usage ?? 0n,
    memoryLimit: limit === undefined || limit > unlimitedAbove ? undefined : limit,
    inactiveFile: stat.get('inactive_file') ?? 0n,
    rss: stat.get('anon') ?? 0n,
    pageFaults: stat.get('pgfault') ?? 0n,
    majorPageFaults: stat.get('pgmajfault') ?? 0n,
    processes: pids ?? 0n,
  };
}

async function readV1(ctrl: (name: string) => string): Promise<CgroupSample> {
  const [cpuNs, usage, limit, stat, pids] = await Promise.all([
    readNumber(join(ctrl('cpuacct'), 'cpuacct.usage')),
    readNumber(join(ctrl('memory'), 'memory.usage_in_bytes')),
    readNumber(join(ctrl('memory'), 'memory.limit_in_bytes')),
    readKeyed(join(ctrl('memory'), 'memory.stat')),
    readNumber(join(ctrl('pids'), 'pids.current')),
  ]);
  return {
    cpuNs: cpuNs ?? 0n,
    memoryUsage: usage ?? 0n,
    memoryLimit: limit === undefined || limit > unlimitedAbove ? undefined : limit,
    inactiveFile: stat.get('total_inactive_file') ?? 0n,
    rss: stat.get('total_rss') ?? 0n,
    pageFaults: stat.get('total_pgfault') ?? 0n,
    majorPageFaults: stat.get('total_pgmajfault') ?? 0n,
    processes: pids ?? 0n,
  };
}

/** Readings of several cgroups as one (a pod without a cgroup parent: its pause's and its containers'); no common limit. */
export function sumSamples(samples: CgroupSample[]): CgroupSample | undefined {
  if (samples.length === 0) return undefined;
  if (samples.length === 1) return samples[0];
  const sum = (f: (s: CgroupSample) => bigint) => samples.reduce((n, s) => n + f(s), 0n);
  return {
    cpuNs: sum((s) => s.cpuNs),
    memoryUsage: sum((s) => s.memoryUsage),
    memoryLimit: undefined,
    inactiveFile: sum((s) => s.inactiveFile),
    rss: sum((s) => s.rss),
    pageFaults: sum((s) => s.pageFaults),
    majorPageFaults: sum((s) => s.majorPageFaults),
    processes: sum((s) => s.processes),
  };
}

/** Counters of one network interface, from /proc/<pid>/net/dev (the interfaces of that process's netns). */
export interface InterfaceCounters {
  name: string;
  rxBytes: bigint;
  rxErrors: bigint;
  txBytes: bigint;
  txErrors: bigint;
}

/** The interfaces (but lo) of the network namespace `pid` is in; undefined when the process is gone. */
export async function readNetDev(pid: number): Promise<InterfaceCounters[] | undefined> {
  let text: string;
  try {
    text = await readText(`/proc/${pid}/net/dev`);
  } catch (err) {
    if (err instanceof Vanished) return undefined;
    throw err;
  }
  return parseNetDev(text);
}

export function parseNetDev(text: string): InterfaceCounters[] {
  const out: InterfaceCounters[] = [];
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const f = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/);
    if (name === 'lo' || f.length < 16 || !f.every((v) => /^\d+$/.test(v))) continue;
    out.push({ name, rxBytes: BigInt(f[0]!), rxErrors: BigInt(f[2]!), txBytes: BigInt(f[8]!), txErrors: BigInt(f[10]!) });
  }
  return out;
}
