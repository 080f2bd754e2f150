import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { storeRunImage } from '../../test/support/run-image.ts';
import type { Scenario } from '../scenario.ts';
import { type Daemon, repo } from '../setup.ts';
import type { Measurement } from '../stats.ts';

/**
 * Containers through each daemon's own CLI, on runc (or crun with --crun): `berth run --rm IMAGE ID true` against
 * `ctr run --rm` (wall clock, process start to exit), then 50 detached `sleep` containers at
 * once: the memory of the processes each daemon runs per container (PSS, from smaps_rollup:
 * containerd's shims, berthd's berth-monitors) and the daemon's RSS, with one shim per container
 * and with all 50 in one shim group (annotation io.containerd.runc.v2.group; berthd's monitors
 * do not group).
 */
const ns = 'bench-run';
const runsPerRound = 10;
const many = 50;
const settleMs = 200;
let serial = 0;
/** `--runc-binary crun` for both CLIs when the bench runs on crun */
let runtimeArgs: string[] = [];

/**
 * berth run's network for the bench: none, as `ctr run` has (a CNI bridge's ADD would be measured
 * beside nothing on ctr's side).
 */
const ownRunArgs = (d: Daemon) => (d.name === 'berthd' ? ['--net', 'none'] : []);

/** Runs a daemon's own CLI (ctr for containerd, berth for berthd), or ctr against either with `viaCtr`. */
function cli(d: Daemon, args: string[], viaCtr = false): { code: number; ms: number; err: string } {
  const bin = d.name === 'containerd' || viaCtr ? 'ctr' : join(repo, 'bin', 'berth');
  const base = ['--address', d.address];
  const t0 = performance.now();
  // SIGKILL: `ctr run` forwards SIGTERM to its container instead of exiting
  const r = spawnSync(bin, [...base, '-n', ns, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000, killSignal: 'SIGKILL' });
  return { code: r.status ?? -1, ms: performance.now() - t0, err: `${r.stderr ?? ''}${r.error?.message ?? ''}`.trim() };
}

function must(d: Daemon, args: string[], viaCtr = false): number {
  const r = cli(d, args, viaCtr);
  if (r.code !== 0) throw new Error(`${d.name}: ${args.slice(0, 3).join(' ')} failed (${r.code}): ${r.err}`);
  return r.ms;
}

/**
 * Pids of the processes a daemon runs for its containers: containerd's shims (their command line
 * names its socket) and berthd's berth-monitors (their --dir is in a bundle under its state dir,
 * beside its root).
 */
function perContainerPids(d: Daemon): number[] {
  const state = join(dirname(d.root), 'state');
  const pids: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const args = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      const shim = args.some((a) => a.includes('shim')) && args.includes(d.address) && !args.includes('start');
      const monitor = args[0]?.endsWith('berth-monitor') && args[args.indexOf('--dir') + 1]?.startsWith(`${state}/`);
      if (shim || monitor) pids.push(Number(p));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

function kib(pid: number, file: string, field: string): number {
  const m = readFileSync(`/proc/${pid}/${file}`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
  return m ? Number(m[1]) : 0;
}

async function memory(d: Daemon, grouped: boolean, progress: (l: string) => void): Promise<Measurement[]> {
  const ids = Array.from({ length: many }, (_, i) => `mem-${serial}-${i}`);
  serial++;
  const extra = grouped ? ['--annotation', 'io.containerd.runc.v2.group=bench'] : [];
  try {
    for (const id of ids) must(d, ['run', '-d', '--null-io', ...ownRunArgs(d), ...runtimeArgs, ...extra, imageName, id, 'sleep', '100000']);
    await new Promise((r) => setTimeout(r, 1000));
    const pids = perContainerPids(d);
    const pss = pids.reduce((sum, p) => sum + kib(p, 'smaps_rollup', 'Pss'), 0);
    const label = grouped ? 'grouped' : 'one shim each';
    progress(
      `${many} containers, ${pids.length} shims or monitors, their PSS ${(pss / 1024).toFixed(1)} MiB, daemon RSS ${(kib(d.pid, 'status', 'VmRSS') / 1024).toFixed(1)} MiB`,
    );
    return [
      { metric: `shim or monitor PSS per container, ${label} (MiB)`, unit: 'MiB', better: 'lower', value: pss / 1024 / many },
      { metric: `daemon RSS with ${many} containers, ${label} (MiB)`, unit: 'MiB', better: 'lower', value: kib(d.pid, 'status', 'VmRSS') / 1024 },
    ];
  } finally {
    for (const id of ids) cli(d, ['tasks', 'kill', '-s', 'SIGKILL', id]);
    await new Promise((r) => setTimeout(r, 500));
    for (const id of ids) {
      cli(d, ['tasks', 'rm', id]);
      cli(d, ['containers', 'rm', id]);
    }
  }
}

let imageName = '';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

/** Times a command; stderr is only read where no container inherits it (a pipe it holds would keep this waiting). */
function timed(bin: string, args: string[], readStderr = true): number {
  const t0 = performance.now();
  const r = spawnSync(bin, args, { stdio: ['ignore', 'ignore', readStderr ? 'pipe' : 'ignore'], encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL' });
  if (r.status !== 0) throw new Error(`${bin} ${args.join(' ')}: ${r.status ?? r.signal}: ${r.stderr}`);
  return performance.now() - t0;
}

/**
 * The floor under a run on this machine: the pinned Node's own start (`node -e 0`, what any
 * berth command pays first) and the OCI runtime's own create, start and delete of a container
 * with the spec and root file system berthd made for one (a sleeping container's bundle, its args
 * replaced by `true`), straight from the command line with no daemon in between.
 */
async function floor(d: Daemon, ociRuntime: string, progress: (l: string) => void): Promise<void> {
  const id = `floor-${serial}`;
  must(d, ['run', '-d', '--null-io', ...ownRunArgs(d), ...runtimeArgs, imageName, id, 'sleep', '100000']);
  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-floor-'));
  try {
    const source = join(dirname(d.root), 'state', 'io.containerd.runtime.v2.task', ns, id);
    const spec = JSON.parse(readFileSync(join(source, 'config.json'), 'utf8'));
    spec.process.args = ['true'];
    spec.root = { path: join(source, 'rootfs') };
    const runtimeRoot = join(dir, 'root');
    const times = { node: [] as number[], create: [] as number[], start: [] as number[], delete: [] as number[] };
    for (let i = 0; i < runsPerRound; i++) {
      times.node.push(timed(process.execPath, ['-e', '0']));
      const cid = `${id}-${i}`;
      spec.linux.cgroupsPath = `/${ns}/${cid}`;
      writeFileSync(join(dir, 'config.json'), JSON.stringify(spec));
      times.create.push(timed(ociRuntime, ['--root', runtimeRoot, 'create', '--bundle', dir, cid], false));
      times.start.push(timed(ociRuntime, ['--root', runtimeRoot, 'start', cid]));
      for (let j = 0; j < 200; j++) {
        const st = spawnSync(ociRuntime, ['--root', runtimeRoot, 'state', cid], { encoding: 'utf8' });
        if (JSON.parse(st.stdout || '{}').status === 'stopped') break;
        await new Promise((r) => setTimeout(r, 5));
      }
      times.delete.push(timed(ociRuntime, ['--root', runtimeRoot, 'delete', cid]));
    }
    const f = (xs: number[]) => median(xs).toFixed(0);
    progress(
      `floor (medians of ${runsPerRound}): node -e 0 ${f(times.node)} ms; ${ociRuntime} create ${f(times.create)} ms, start ${f(times.start)} ms, delete ${f(times.delete)} ms`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
    cli(d, ['tasks', 'kill', '-s', 'SIGKILL', id]);
    await new Promise((r) => setTimeout(r, 300));
    cli(d, ['tasks', 'rm', id]);
    cli(d, ['containers', 'rm', id]);
  }
}

/**
 * Removes the cgroups runc made for a namespace (cgroupsPath /NAMESPACE/ID, default bench-run, shared by both
 * daemons): /sys/fs/cgroup/<controller>/bench-run in every v1 hierarchy and the cgroup2 one
 * (/sys/fs/cgroup/unified/bench-run on a hybrid host, /sys/fs/cgroup/bench-run on a pure v2
 * host), with any empty container cgroups left below. Only empty directories go: a cgroup
 * that still holds a process stays, and so does everything else.
 */
export async function removeNamespaceCgroups(namespace = ns): Promise<void> {
  const base = '/sys/fs/cgroup';
  let hierarchies: string[];
  try {
    hierarchies = [base, ...readdirSync(base).map((c) => join(base, c))];
  } catch {
    return;
  }
  for (const h of hierarchies) {
    const dir = join(h, namespace);
    if (!existsSync(dir)) continue;
    // a container cgroup can take a moment to become removable after its last process exits
    for (let attempt = 0; attempt < 10; attempt++) {
      try {
        for (const e of readdirSync(dir, { withFileTypes: true })) {
          if (e.isDirectory()) {
            try {
              rmdirSync(join(dir, e.name));
            } catch {
              // still populated
            }
          }
        }
        rmdirSync(dir);
        break;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') break;
        if (attempt === 9) process.stderr.write(`bench: run: cannot remove ${dir}: ${code ?? (err as Error).message}\n`);
        else await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
}

export const run: Scenario = {
  name: 'run',
  summary: `run --rm IMAGE ID true through each CLI and through ctr, version through each CLI (${runsPerRound} each per round, alternating); with --run-memory, ${many} sleeping containers: shim or monitor PSS per container and daemon RSS`,
  async prepare(d, opts, cleanup) {
    // once at the end, not between rounds: removing them while the daemons run made a later
    // `ctr run --rm` on containerd hang now and then
    cleanup.add('the run namespace cgroups', () => removeNamespaceCgroups());
    runtimeArgs = opts.ociRuntime === 'crun' ? ['--runc-binary', 'crun'] : [];
    const c = d.client(ns);
    try {
      imageName = await storeRunImage(c);
    } finally {
      c.close();
    }
    must(d, ['run', '--rm', ...ownRunArgs(d), ...runtimeArgs, imageName, `warm-${d.name}`, 'true']); // unpacks the image
  },
  async round(d, opts, progress) {
    const out: Measurement[] = [];
    // alternating, so that the machine's drift hits the three commands alike, with a pause after
    // each so that what a daemon still does after a command answered (berthd removing a --rm
    // container, either daemon's garbage collection) is not counted in the next one
    const own: number[] = [];
    const viaCtr: number[] = [];
    const version: number[] = [];
    const viaCtrSeccomp: number[] = [];
    const settle = () => new Promise((r) => setTimeout(r, settleMs));
    for (let i = 0; i < runsPerRound; i++) {
      own.push(must(d, ['run', '--rm', ...ownRunArgs(d), ...runtimeArgs, imageName, `run-${serial}-${i}`, 'true']));
      await settle();
      viaCtr.push(must(d, ['run', '--rm', ...runtimeArgs, imageName, `ctr-${serial}-${i}`, 'true'], true));
      await settle();
      // berth's specs carry the default seccomp profile (runc compiles and loads it at create); ctr 1.6's only with --seccomp
      viaCtrSeccomp.push(must(d, ['run', '--rm', '--seccomp', ...runtimeArgs, imageName, `sec-${serial}-${i}`, 'true'], true));
      await settle();
      version.push(must(d, ['version']));
      await settle();
    }
    serial++;
    const ms = (list: number[]) => list.map((v) => v.toFixed(0)).join(' ');
    progress(`run --rm, own CLI: ${ms(own)} ms`);
    progress(`ctr run --rm: ${ms(viaCtr)} ms`);
    progress(`ctr run --rm --seccomp: ${ms(viaCtrSeccomp)} ms`);
    progress(`version, own CLI: ${ms(version)} ms`);
    const rt = opts.ociRuntime;
    out.push(
      ...own.map((value) => ({ metric: `own CLI run --rm true, ${rt} (ms)`, unit: 'ms', better: 'lower' as const, value })),
      ...viaCtr.map((value) => ({ metric: `ctr run --rm true, ${rt} (ms)`, unit: 'ms', better: 'lower' as const, value })),
      ...viaCtrSeccomp.map((value) => ({ metric: `ctr run --rm --seccomp true, ${rt} (ms)`, unit: 'ms', better: 'lower' as const, value })),
      ...version.map((value) => ({ metric: 'own CLI version (ms)', unit: 'ms', better: 'lower' as const, value })),
    );
    // (on crun the daemons run in a mount namespace of their own, where their rootfs mounts stay)
    if (d.name === 'berthd' && opts.ociRuntime === 'runc') await floor(d, opts.ociRuntime, progress);
    if (opts.runMemory) {
      out.push(...(await memory(d, false, progress)));
      out.push(...(await memory(d, true, progress)));
    }
    return out;
  },
};
