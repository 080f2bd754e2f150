import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { createContainer, deleteContainer } from '../../ctl/spec/create.ts';
import type { ContainerFlags } from '../../ctl/spec/flags.ts';
import { storeRunImage } from '../../test/support/run-image.ts';
import type { BerthClient } from '../../transport/client.ts';
import type { Cleanup } from '../cleanup.ts';
import type { Scenario } from '../scenario.ts';
import { clockTicks, type Daemon, repo, sleep } from '../setup.ts';
import type { Measurement } from '../stats.ts';
import { removeNamespaceCgroups } from './run.ts';

/**
 * Density: N detached `sleep` containers on each daemon (runc, the run image), made through the
 * same client (ctl's container creation, then the task calls ctr run -d makes), and what they
 * cost: the PSS of every process the runtime keeps per container (containerd-shim-runc-v2 for
 * containerd; berth-monitor for berthd, or the shim a runtime is mapped to), the daemon's own PSS and its
 * growth per container, and the wall time to start them 8 at a time. See bench/README.md.
 */
const ns = 'bench-density';
/** tasks created and started at once, like 8 `ctr run -d` side by side */
const concurrency = 8;
/** after the last start, before memory is read: runc is gone, the daemons have settled */
const settleMs = 3000;
/** how long the CPU use at rest is measured, with the N containers running */
const idleWindowMs = 5000;
let serial = 0;
let imageName = '';
/** set by the teardown: pools take no new container, so that it sees every one that was made */
let stopping = false;
/** pool operations running now (the teardown waits for them) */
let active = 0;

const flags: ContainerFlags = {
  env: [],
  mount: [],
  capAdd: [],
  capDrop: [],
  securityOpt: [],
  label: [],
  annotation: [],
  runtime: 'io.containerd.runc.v2',
  snapshotter: 'overlayfs',
};

interface Proc {
  pid: number;
  ppid: number;
  args: string[];
}

function processes(): Proc[] {
  const out: Proc[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const args = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').filter(Boolean);
      out.push({ pid: Number(p), ppid, args });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** PSS of a process in KiB (0 if it is gone). */
function pssKiB(pid: number): number {
  try {
    const m = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8').match(/^Pss:\s+(\d+) kB/m);
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

interface RuntimeProcesses {
  /** what the runtime keeps per container: a process whose command line names one of the containers */
  perContainer: Proc[];
  /** the daemon's other helpers (an unpack child) */
  other: Proc[];
}

/**
 * The processes a daemon runs besides itself: every process whose command line names a path in
 * the daemon's directory (its socket, state or root), which containerd's shims (`-address`) and
 * berth's monitors (`--dir`, `--socket`) all do. runc is left out (it is gone once a
 * task is created; the bench waits), and so are the containers' own processes, which name none.
 */
function runtimeProcesses(d: Daemon, ids: readonly string[] | 'any', all = processes()): RuntimeProcesses {
  const dir = `${dirname(d.address)}/`;
  const idSet = ids === 'any' ? undefined : new Set(ids);
  const perContainer: Proc[] = [];
  const other: Proc[] = [];
  for (const p of all) {
    if (p.pid === d.pid || p.pid === process.pid || p.args.length === 0) continue;
    if (basename(p.args[0]) === 'runc') continue;
    if (!p.args.some((a) => a === d.address || a.startsWith(dir))) continue;
    // containerd's shim: -id ID; berth-monitor: --id ID
    const i = p.args.findIndex((a) => a === '-id' || a === '--id');
    if (i >= 0 && (idSet?.has(p.args[i + 1]) ?? true)) perContainer.push(p);
    else other.push(p);
  }
  return { perContainer, other };
}

/** A process's program: its binary, or for Node.js the script it runs. */
function describe(p: Proc): string {
  const bin = basename(p.args[0]);
  const script = bin === 'node' ? p.args.find((a) => a.endsWith('.js')) : undefined;
  return script ? `node ${script.split('/').slice(-3).join('/')}` : bin;
}

/** The median of a few PSS readings of the daemon, 200 ms apart (a GC can land on any one of them). */
async function daemonPssKiB(d: Daemon): Promise<number> {
  const readings: number[] = [];
  for (let i = 0; i < 5; i++) {
    if (i > 0) await sleep(200);
    readings.push(pssKiB(d.pid));
  }
  return readings.sort((a, b) => a - b)[2];
}

/** CPU seconds of a process itself (utime + stime) and of the children it has reaped (cutime + cstime); 0 if it is gone. */
function cpu(pid: number): { own: number; children: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // f[0] is field 3
    return { own: (Number(f[11]) + Number(f[12])) / clockTicks, children: (Number(f[13]) + Number(f[14])) / clockTicks };
  } catch {
    return { own: 0, children: 0 };
  }
}

function cpuWithChildren(pid: number): number {
  const c = cpu(pid);
  return c.own + c.children;
}

function fdCount(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
}

/** Runs fn over items, `limit` at a time, each worker with its own client. */
async function pool<T>(d: Daemon, items: readonly T[], limit: number, fn: (c: BerthClient, item: T) => Promise<void>, teardown = false): Promise<void> {
  let next = 0;
  const errors: unknown[] = [];
  const worker = async () => {
    const c = d.client(ns);
    try {
      while (next < items.length && !(stopping && !teardown)) {
        const item = items[next++];
        active++;
        try {
          await fn(c, item);
        } catch (err) {
          errors.push(err);
        } finally {
          active--;
        }
      }
    } finally {
      c.close();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (stopping && !teardown) throw new Error('stopped by the teardown');
  if (errors.length > 0) throw new Error(`${d.name}: ${errors.length} of ${items.length} failed; the first: ${(errors[0] as Error).message}`);
}

/** What `ctr run -d` does once the container exists: the snapshot's mounts, Tasks.Create with no stdio, Tasks.Start. */
async function startTask(c: BerthClient, id: string): Promise<number> {
  const { mounts } = await c.snapshots.Mounts({ snapshotter: flags.snapshotter, key: id });
  const { pid } = await c.tasks.Create({ container_id: id, rootfs: mounts, stdin: '', stdout: '', stderr: '', terminal: false });
  await c.tasks.Start({ container_id: id, exec_id: '' });
  return pid;
}

const isNotFound = (err: unknown) => (err as { code?: unknown }).code === 'NotFound' || (err as { code?: unknown }).code === 5;

/** SIGKILL, wait for the exit, Tasks.Delete, then the snapshot and the container; a missing task or container is fine. */
async function removeContainer(c: BerthClient, id: string): Promise<void> {
  const waited = c.tasks.Wait({ container_id: id, exec_id: '' });
  waited.catch(() => undefined);
  let task = true;
  try {
    await c.tasks.Kill({ container_id: id, exec_id: '', signal: 9, all: true });
  } catch (err) {
    if (!isNotFound(err)) throw err;
    task = false;
  }
  if (task) {
    await waited.catch((err) => {
      if (!isNotFound(err)) throw err;
    });
    await c.tasks.Delete({ container_id: id }).catch((err) => {
      if (!isNotFound(err)) throw err;
    });
  }
  await deleteContainer(c, id).catch((err) => {
    if (!isNotFound(err)) throw err;
  });
}

/** Waits up to `ms` for the per-container processes of `ids` to go; returns those left. */
async function waitGone(d: Daemon, ids: readonly string[], ms: number): Promise<Proc[]> {
  const until = Date.now() + ms;
  for (;;) {
    const left = runtimeProcesses(d, ids).perContainer;
    if (left.length === 0 || Date.now() > until) return left;
    await sleep(100);
  }
}

/**
 * Removes every container of the bench's namespace, tasks first, then kills whatever the
 * daemon left running for them. For teardown: bounded, best effort, says what it could not do.
 */
async function removeEverything(d: Daemon): Promise<void> {
  stopping = true;
  for (const until = Date.now() + 30_000; active > 0 && Date.now() < until; ) await sleep(100);
  const c = d.client(ns);
  let ids: string[] = [];
  try {
    const listed = await Promise.race([c.containers.List({ filters: [] }), sleep(10_000).then(() => undefined)]);
    ids = listed?.containers.map((x) => x.id) ?? [];
  } catch {
    // the daemon is gone: only processes can be cleaned below
  } finally {
    c.close();
  }
  if (ids.length > 0) {
    await Promise.race([pool(d, ids, concurrency, removeContainer, true).catch(() => undefined), sleep(60_000)]);
  }
  // a daemon that failed leaves its shims or monitors and their containers: kill the containers, then those
  const stragglers = runtimeProcesses(d, 'any').perContainer;
  if (stragglers.length > 0) {
    const parents = new Set(stragglers.map((p) => p.pid));
    for (const p of processes()) if (parents.has(p.ppid)) killQuietly(p.pid);
    for (const p of stragglers) killQuietly(p.pid);
    process.stderr.write(`bench: density: killed ${stragglers.length} processes ${d.name} left behind\n`);
    // and the containers' root file systems they leave mounted in the daemon's directory
    unmountUnder(dirname(d.address));
  }
  await removeNamespaceCgroups(ns);
}

/** Unmounts (lazily, deepest first) every mount below dir. */
function unmountUnder(dir: string) {
  const points = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4]?.replace(/\\040/g, ' '))
    .filter((p): p is string => p?.startsWith(`${dir}/`) ?? false)
    .sort((a, b) => b.length - a.length);
  for (const p of points) spawnSync('umount', ['-l', p]);
}

function killQuietly(pid: number) {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone already
  }
}

/** The CLI of the daemon, for the untimed first run that unpacks the image (ctr unpacks client-side). */
function runOnce(d: Daemon, id: string) {
  const [bin, base, net] =
    d.name === 'containerd' ? ['ctr', ['--address', d.address], []] : [join(repo, 'bin', 'berth'), ['--address', d.address], ['--net', 'none']];
  const r = spawnSync(bin, [...base, '-n', ns, 'run', '--rm', ...net, imageName, id, 'true'], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`${d.name}: run --rm ${imageName} failed (${r.status ?? r.signal}): ${r.stderr}${r.error?.message ?? ''}`);
}

const mib = (kib: number) => kib / 1024;

/** N containers on one daemon: start them, measure, remove them, check nothing is left. */
async function measure(d: Daemon, n: number, progress: (l: string) => void): Promise<Measurement[]> {
  const ids = Array.from({ length: n }, (_, i) => `dens-${serial}-${i}`);
  serial++;
  const out: Measurement[] = [];
  const add = (metric: string, unit: string, value: number, better: 'lower' | 'higher' = 'lower') =>
    out.push({ metric: `${metric}, ${n} containers`, unit, better, value });
  // the daemon at rest with no container, after the same settling as with N
  await sleep(settleMs);
  const idle = runtimeProcesses(d, 'any');
  const daemonIdle = await daemonPssKiB(d);
  const fdsIdle = fdCount(d.pid);
  try {
    await pool(d, ids, concurrency, async (c, id) => {
      await createContainer(c, { id, image: imageName, args: ['sleep', '100000'], flags, namespace: ns });
    });
    const pids = new Map<string, number>();
    const cpu0 = cpu(d.pid);
    const t0 = performance.now();
    await pool(d, ids, concurrency, async (c, id) => {
      pids.set(id, await startTask(c, id));
    });
    const startMs = performance.now() - t0;
    await sleep(settleMs);

    const all = processes();
    const { perContainer, other } = runtimeProcesses(d, ids, all);
    const perPss = perContainer.map((p) => pssKiB(p.pid));
    const otherPss = other.map((p) => pssKiB(p.pid));
    const daemonPss = await daemonPssKiB(d);
    const fds = fdCount(d.pid);
    // the CPU the starts cost: the daemon's, and all of the new per-container processes' (runc,
    // the shim's `start` and the monitor's first process are reaped children of one of these)
    const cpu1 = cpu(d.pid);
    const [daemonOwnCpu, daemonChildrenCpu] = [cpu1.own - cpu0.own, cpu1.children - cpu0.children];
    const daemonCpu = daemonOwnCpu + daemonChildrenCpu;
    const perCpu = perContainer.reduce((sum, p) => sum + cpuWithChildren(p.pid), 0);
    const perTotal = perPss.reduce((a, b) => a + b, 0);
    const otherTotal = otherPss.reduce((a, b) => a + b, 0);
    // the process tree: each container's init is the child of one of the per-container processes
    const owners = new Set(perContainer.map((p) => p.pid));
    const ppid = new Map(all.map((p) => [p.pid, p.ppid]));
    const owned = [...pids.values()].filter((pid) => owners.has(ppid.get(pid) ?? -1)).length;
    const kinds = [...new Set(perContainer.map(describe))].join(', ') || 'none';
    const sorted = [...perPss].sort((a, b) => a - b);
    progress(
      `${n} started in ${(startMs / 1000).toFixed(2)} s; ${perContainer.length} per-container processes (${kinds}), ` +
        `${owned}/${n} containers are their children, PSS ${mib(perTotal).toFixed(1)} MiB (one: median ${sorted[sorted.length >> 1] ?? 0} KiB); ` +
        `daemon PSS ${mib(daemonIdle).toFixed(1)} -> ${mib(daemonPss).toFixed(1)} MiB, fds ${fdsIdle} -> ${fds}; ` +
        `CPU for the starts: daemon ${daemonOwnCpu.toFixed(2)} s + its reaped children ${daemonChildrenCpu.toFixed(2)} s, ` +
        `per-container processes ${perCpu.toFixed(2)} s` +
        (other.length > 0 ? `; other: ${other.map((p, i) => `${describe(p)} ${(otherPss[i] / 1024).toFixed(1)} MiB`).join(', ')}` : ''),
    );
    if (perContainer.length !== n) progress(`warning: ${perContainer.length} per-container processes for ${n} containers`);
    if (idle.perContainer.length > 0) progress(`warning: ${idle.perContainer.length} per-container processes before the start`);

    // at rest with N containers: what the daemon and its processes do with nothing asked of them
    const idleCpu = () => cpu(d.pid).own + perContainer.reduce((sum, p) => sum + cpu(p.pid).own, 0);
    const idle0 = idleCpu();
    await sleep(idleWindowMs);
    const idleCpuMsPerS = ((idleCpu() - idle0) * 1000) / (idleWindowMs / 1000);
    progress(`at rest: the daemon and its per-container processes use ${idleCpuMsPerS.toFixed(1)} ms of CPU per second`);

    add('runtime PSS per container', 'MiB', mib(perTotal) / n);
    add('per-container processes, PSS total', 'MiB', mib(perTotal));
    add('daemon PSS', 'MiB', mib(daemonPss));
    add('daemon growth per container', 'KiB', (daemonPss - daemonIdle) / n);
    add('daemon + per-container processes, PSS', 'MiB', mib(daemonPss + perTotal));
    add('other daemon processes, PSS', 'MiB', mib(otherTotal));
    add('whole runtime PSS (daemon + all its processes)', 'MiB', mib(daemonPss + perTotal + otherTotal));
    add(`start, ${concurrency} at a time`, 's', startMs / 1000);
    add('CPU to start them (daemon, its processes, their children)', 's', daemonCpu + perCpu);
    add('CPU at rest (daemon and per-container processes)', 'ms/s', idleCpuMsPerS);
  } catch (err) {
    // the round fails; what it started goes (the teardown's removeEverything is the last resort)
    await pool(d, ids, concurrency, removeContainer).catch(() => undefined);
    throw err;
  }
  const t0 = performance.now();
  await pool(d, ids, concurrency, removeContainer);
  const removeMs = performance.now() - t0;
  const left = await waitGone(d, ids, 10_000);
  progress(`removed in ${(removeMs / 1000).toFixed(2)} s; per-container processes left: ${left.length}`);
  if (left.length > 0) throw new Error(`${d.name}: ${left.length} per-container processes still running after every container was removed`);
  add(`remove, ${concurrency} at a time`, 's', removeMs / 1000);
  return out;
}

export const density: Scenario = {
  name: 'density',
  summary: `N detached sleep containers (--containers, default 20,100), started ${concurrency} at a time: PSS per container and of the daemon, start time`,
  async prepare(d, _opts, cleanup?: Cleanup) {
    // registered before the first container: a failure or ^C removes them before the daemons stop
    cleanup?.add(`remove ${d.name}'s density containers`, () => removeEverything(d));
    const c = d.client(ns);
    try {
      imageName = await storeRunImage(c);
    } finally {
      c.close();
    }
    runOnce(d, `warm-${d.name}`); // unpacks the image
    // the same warm-up for both daemons: their task code loaded, a first batch gone
    const ids = Array.from({ length: concurrency }, (_, i) => `warm-${d.name}-${i}`);
    try {
      await pool(d, ids, concurrency, async (c2, id) => {
        await createContainer(c2, { id, image: imageName, args: ['sleep', '100000'], flags, namespace: ns });
        await startTask(c2, id);
      });
    } finally {
      await pool(d, ids, concurrency, removeContainer);
    }
  },
  async round(d, opts, progress) {
    const out: Measurement[] = [];
    for (const n of opts.containers) out.push(...(await measure(d, n, progress)));
    // every container is gone: so are its cgroups (after a failure, the teardown removes them
    // once it has removed or killed what is left)
    await removeNamespaceCgroups(ns);
    return out;
  },
};
