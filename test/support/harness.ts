import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { afterAll, beforeAll } from 'vitest';
import { BerthClient } from '../../transport/client.ts';
import { releaseAttachments } from './attach.ts';
import { closeGrpcClients } from './grpc-js.ts';
import { bridgesUnder, networkConfigToml, removeTestBridges, type TestNetwork, uniqueTestNetwork } from './network.ts';
import { loadRunImage } from './run-image.ts';

export const repo = resolve(import.meta.dirname, '..', '..');
export const berthdBin = join(repo, 'bin', 'berthd');
export const berthBin = join(repo, 'bin', 'berth');

if (!existsSync(join(repo, 'dist', 'daemon', 'main.js'))) {
  throw new Error('dist/ is missing: run `npm run build` first (npm test does it for you)');
}

export interface Berthd {
  dir: string;
  root: string;
  state: string;
  address: string;
  /** the default network's bridge device and subnet of this daemon (each test daemon has its own) */
  network: TestNetwork;
  /** the daemon's output so far (stderr and stdout) */
  output(): string;
  pid(): number;
  client(namespace?: string, lease?: string): BerthClient;
  /** runs the berth CLI against this daemon */
  berth(args: string[], opts?: { input?: string | Buffer; env?: Record<string, string> }): { code: number; stdout: string; stderr: string };
  /** runs containerd's ctr against this daemon */
  ctr(args: string[], opts?: { input?: string | Buffer }): { code: number; stdout: string; stderr: string };
  /** SIGTERM and wait for exit; resolves with the exit code */
  stop(): Promise<number | null>;
  /** SIGKILL and wait */
  kill(): Promise<void>;
  /** starts the daemon again on the same paths (stopping it first with SIGTERM if it still runs) */
  restart(): Promise<void>;
  /** stops the daemon if running and removes every file it made, and its networks' bridges and isolation rules */
  cleanup(): Promise<void>;
  /**
   * Bytes of the daemon's JS objects still reachable, from a heap snapshot (which collects
   * garbage first); only for a daemon started with `heapSnapshots`.
   */
  liveHeap(): Promise<number>;
}

/**
 * Starts a berthd of its own on temporary root, state and socket paths. `heapSnapshots`: SIGUSR2
 * makes it write a heap snapshot (see liveHeap).
 */
export async function startBerthd(extraArgs: string[] = [], opts: { heapSnapshots?: boolean } = {}): Promise<Berthd> {
  const dir = mkdtempSync('/tmp/berth-test-');
  const root = join(dir, 'root');
  const state = join(dir, 'state');
  const address = join(dir, 'berth.sock');
  let proc: ChildProcess | undefined;
  let log = '';
  const clients: BerthClient[] = [];
  const heapDir = join(dir, 'heap');
  const env = opts.heapSnapshots
    ? { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${heapDir}`.trim() }
    : process.env;
  const { args: daemonArgs, network } = withTestNetwork(dir, extraArgs);

  const launch = async () => {
    proc = spawn(berthdBin, ['--root', root, '--state', state, '--address', address, '--log-level', 'debug', ...daemonArgs], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env,
    });
    proc.stdout!.on('data', (d) => (log += d));
    proc.stderr!.on('data', (d) => (log += d));
    const exited = new Promise<void>((resolve) => proc!.once('exit', () => resolve()));
    const probe = new BerthClient({ address, timeoutMs: 1000 });
    try {
      for (let i = 0; i < 200; i++) {
        if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`berthd exited early:\n${log}`);
        if (existsSync(address)) {
          const ok = await probe.version.Version({}).then(
            () => true,
            () => false,
          );
          if (ok) return;
        }
        await Promise.race([exited, new Promise((r) => setTimeout(r, 50))]);
      }
      throw new Error(`berthd did not come up:\n${log}`);
    } finally {
      probe.close();
    }
  };

  const waitExit = (signal: NodeJS.Signals) =>
    new Promise<number | null>((resolve) => {
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return resolve(proc?.exitCode ?? null);
      proc.once('exit', (code) => resolve(code));
      proc.kill(signal);
    });

  const run = (bin: string, args: string[], opts: { input?: string | Buffer; env?: Record<string, string> } = {}) => {
    const r = spawnSync(bin, args, { input: opts.input, env: { ...process.env, ...opts.env }, encoding: 'utf8', timeout: 60_000 });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };

  const d: Berthd = {
    dir,
    root,
    state,
    address,
    network,
    output: () => log,
    pid: () => proc?.pid ?? -1,
    client(namespace = 'default', lease?: string) {
      const c = new BerthClient({ address, namespace, lease, timeoutMs: 30_000 });
      clients.push(c);
      return c;
    },
    berth: (args, opts) => run(berthBin, ['--address', address, ...args], opts),
    ctr: (args, opts) => run('ctr', ['--address', address, ...args], opts),
    stop: () => waitExit('SIGTERM'),
    kill: async () => {
      await waitExit('SIGKILL');
    },
    // a second berthd beside a live one would answer the probe with the first one's socket and
    // leave the first running, outside cleanup's reach
    restart: async () => {
      await waitExit('SIGTERM');
      await launch();
    },
    async liveHeap() {
      if (!opts.heapSnapshots) throw new Error('liveHeap needs startBerthd(…, { heapSnapshots: true })');
      rmSync(heapDir, { recursive: true, force: true });
      mkdirSync(heapDir);
      process.kill(d.pid(), 'SIGUSR2');
      // written in place: done once the file parses
      for (let i = 0; i < 600; i++) {
        await new Promise((r) => setTimeout(r, 100));
        const file = readdirSync(heapDir).find((f) => f.endsWith('.heapsnapshot'));
        if (!file) continue;
        let snap: { snapshot: { meta: { node_fields: string[] } }; nodes: number[] };
        try {
          snap = JSON.parse(readFileSync(join(heapDir, file), 'utf8'));
        } catch {
          continue;
        }
        const fields = snap.snapshot.meta.node_fields;
        const self = fields.indexOf('self_size');
        let bytes = 0;
        for (let at = self; at < snap.nodes.length; at += fields.length) bytes += snap.nodes[at]!;
        rmSync(heapDir, { recursive: true, force: true });
        return bytes;
      }
      throw new Error('berthd wrote no heap snapshot within 60 s');
    },
    async cleanup() {
      for (const c of clients) {
        closeGrpcClients(c);
        c.close();
      }
      await waitExit('SIGKILL');
      // containers that outlive the daemon keep their CNI rules and leases until DELeted, which
      // needs their netns still mounted (the bridge plugin finds the address to unmasquerade there)
      await releaseAttachments(join(state, 'net'));
      removeRuntimeLeftovers(dir, join(state, 'runc'));
      await removeTestBridges([network.bridge, ...bridgesUnder(root)]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await launch();
  } catch (err) {
    await d.cleanup();
    throw err;
  }
  return d;
}

/**
 * berthd's arguments with a default network of the daemon's own: the network table is appended to
 * the `--config` file among the arguments, or written to a config file in `dir`. A config that has
 * the table already keeps it (its values are the daemon's).
 */
function withTestNetwork(dir: string, extraArgs: string[]): { args: string[]; network: TestNetwork } {
  const network = uniqueTestNetwork();
  const at = extraArgs.indexOf('--config');
  if (at < 0) {
    const config = join(dir, 'network.toml');
    writeFileSync(config, `version = 2\n${networkConfigToml(network)}`);
    return { args: [...extraArgs, '--config', config], network };
  }
  const config = extraArgs[at + 1]!;
  const text = readFileSync(config, 'utf8');
  const table = ((parseToml(text).plugins ?? {}) as Record<string, Record<string, string> | undefined>)['io.berth.network.v1.cni'];
  if (table) {
    // the host's own berth0 and 10.77.0.0/16 are not a test's to use (nor to remove at cleanup)
    if (!table.default_bridge || !table.default_subnet || !table.subnet_pool) {
      throw new Error(`${config}: a test's network table must set default_bridge, default_subnet and subnet_pool (see test/support/network.ts)`);
    }
    return { args: extraArgs, network: { bridge: table.default_bridge, subnet: table.default_subnet, pool: table.subnet_pool } };
  }
  appendFileSync(config, `${text.endsWith('\n') ? '' : '\n'}${networkConfigToml(network)}`);
  return { args: extraArgs, network };
}

/**
 * A berthd of the calling describe block's own with the run image stored in namespace ns: started
 * before its tests (`ready` gets the daemon and the image's name), removed after them.
 */
export function berthdWithRunImage(ns: string, ready: (b: Berthd, image: string) => void, opts: { heapSnapshots?: boolean; args?: string[] } = {}): void {
  let b: Berthd | undefined;
  beforeAll(async () => {
    b = await startBerthd(opts.args ?? [], opts);
    ready(b, await loadRunImage(b, { ns }));
  }, 60_000);
  afterAll(async () => {
    await b?.cleanup();
  });
}

/** berthd's flags for a config in `dir` that runs io.containerd.runc.v2 under the shim binary `shim`. */
export function shimConfigArgs(dir: string, shim: string): string[] {
  const config = join(dir, 'config.toml');
  writeFileSync(config, `version = 2\n[plugins."io.containerd.runtime.v2.task".shims]\n"io.containerd.runc.v2" = "${shim}"\n`);
  return ['--config', config];
}

/**
 * Removes what containers of a test daemon left on the host: every container runc knows under
 * the daemon's runc roots (killed and deleted, which also removes its cgroup), the namespace
 * cgroups runc made above them when empty, every process whose working directory is under `dir`
 * (containerd's shims: their cwd is their bundle), every berth-monitor working for a process dir
 * under `dir`, and every mount under `dir`.
 */
export function removeRuntimeLeftovers(dir: string, runcRoot: string): void {
  const namespaces = new Set<string>();
  for (const base of [runcRoot, join(dir, 'state', 'io.containerd.runtime.v2.task')]) {
    if (existsSync(base)) for (const ns of readdirSync(base)) namespaces.add(ns);
  }
  for (const ns of namespaces) {
    for (const runtime of ['runc', 'crun']) {
      const root = join(runcRoot, ns);
      if (!existsSync(root)) continue;
      // a root outside dir (containerd's /run/containerd/runc) is shared by every containerd a
      // test starts: only the containers whose bundles are under dir are this one's
      const r = spawnSync(runtime, ['--root', root, 'list', '--format', 'json'], { encoding: 'utf8' });
      let listed: Array<{ id: string; bundle: string }> = [];
      try {
        listed = JSON.parse(r.stdout || 'null') ?? [];
      } catch {
        // nothing listed
      }
      const ours = (bundle: string) => runcRoot.startsWith(`${dir}/`) || bundle.startsWith(`${dir}/`);
      for (const { id, bundle } of listed) if (ours(bundle)) spawnSync(runtime, ['--root', root, 'delete', '--force', id]);
    }
  }
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      const monitor = args[0]?.endsWith('berth-monitor') && args[args.indexOf('--dir') + 1]?.startsWith(`${dir}/`);
      if (monitor || readlinkSync(`/proc/${pid}/cwd`).startsWith(`${dir}/`)) process.kill(Number(pid), 'SIGKILL');
    } catch {
      // gone already, or not ours to read
    }
  }
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m) => m && (m === dir || m.startsWith(`${dir}/`)))
    .reverse();
  for (const m of mounts) spawnSync('umount', ['-l', m]);
  const cgroupRoots = readdirSync('/sys/fs/cgroup').map((c) => join('/sys/fs/cgroup', c));
  for (const ns of namespaces) {
    for (const ctrl of cgroupRoots) {
      try {
        rmdirSync(join(ctrl, ns));
      } catch {
        // not there, not empty (someone else's), or not a hierarchy
      }
    }
  }
}

export interface Containerd {
  address: string;
  ctr(args: string[], opts?: { input?: string | Buffer }): { code: number; stdout: string; stderr: string };
  /** SIGKILL and wait (its shims and containers keep running) */
  kill(): Promise<void>;
  /** starts containerd again on the same paths (killing it first if it still runs) */
  restart(): Promise<void>;
  cleanup(): Promise<void>;
}

/**
 * Starts a real containerd (Debian's package) on temporary paths with the CRI plugin off, as
 * the reference that berthd's answers to ctr are compared with.
 */
export async function startContainerd(): Promise<Containerd> {
  const dir = mkdtempSync('/tmp/berth-ctd-');
  const address = join(dir, 'containerd.sock');
  const config = join(dir, 'config.toml');
  writeFileSync(
    config,
    [
      'version = 2',
      `root = "${dir}/root"`,
      `state = "${dir}/state"`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = "${address}"`,
      '[ttrpc]',
      `  address = "${address}.ttrpc"`,
      '',
    ].join('\n'),
  );
  let log = '';
  let proc: ChildProcess | undefined;
  const stop = () =>
    new Promise<void>((resolve) => {
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return resolve();
      proc.once('exit', () => resolve());
      proc.kill('SIGKILL');
    });
  const ctr = (args: string[], opts: { input?: string | Buffer } = {}) => {
    const r = spawnSync('ctr', ['--address', address, ...args], { input: opts.input, encoding: 'utf8', timeout: 60_000 });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
  const launch = async () => {
    proc = spawn('containerd', ['--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout!.on('data', (d) => (log += d));
    proc.stderr!.on('data', (d) => (log += d));
    for (let i = 0; ; i++) {
      if (existsSync(address) && ctr(['version']).code === 0) return;
      if (i === 100 || proc.exitCode !== null) throw new Error(`containerd did not start:\n${log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const cleanup = async () => {
    await stop();
    // containerd's runc shim keeps runc's state under /run/containerd/runc whatever the state dir
    removeRuntimeLeftovers(dir, '/run/containerd/runc');
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await launch();
  } catch (err) {
    await cleanup();
    throw err;
  }
  const restart = async () => {
    await stop();
    await launch();
  };
  return { address, ctr, kill: stop, restart, cleanup };
}
