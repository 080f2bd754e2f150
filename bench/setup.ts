import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { removeIsolation } from '../daemon/network/isolation.ts';
import { withoutCgroup2 } from '../test/support/cgroup-view.ts';
import { BerthClient } from '../transport/client.ts';
import type { Cleanup } from './cleanup.ts';

/** The repository root, from bench/ in the source tree or dist/bench/ once compiled. */
export const repo = [resolve(import.meta.dirname, '..'), resolve(import.meta.dirname, '..', '..')].find((dir) =>
  existsSync(join(dir, 'package.json')),
) as string;

export type DaemonName = 'containerd' | 'berthd';

export interface Daemon {
  name: DaemonName;
  address: string;
  root: string;
  pid: number;
  /**
   * A new client on its own channel; the caller closes it. Its calls carry no deadline, like
   * most of ctr's (a deadline costs the server a timer per call); run.ts bounds each round.
   */
  client(namespace: string): BerthClient;
  /** where the daemon keeps a committed blob on disk */
  blobPath(digest: string): string;
  /** the last lines the daemon wrote */
  log(): string;
  /** CPU time (user + system, all threads) the daemon has used so far, in seconds */
  cpuSeconds(): number;
  /** how the daemon ended, if it is no longer running */
  exited(): string | undefined;
}

export interface SetupOptions {
  /** where the sparse file backing the scratch filesystem goes */
  imageDir: string;
  sizeGiB: number;
  /** extra environment for berthd (e.g. NODE_OPTIONS for --cpu-prof) */
  berthdEnv?: Record<string, string>;
  /**
   * Both daemons in a private mount namespace without a hybrid host's cgroup2 mount, where
   * Debian's crun works (see test/cgroup-view.ts); a no-op on pure v1 or v2 hosts.
   */
  hideCgroup2?: boolean;
  /** the CRI on both daemons (the pod scenario), each with a CNI bridge and subnet of its own; off otherwise, as it costs containerd */
  cri?: boolean;
}

/** The sandbox (pause) image both daemons' CRI run pods with; the pod scenario stores it. */
export const criSandboxImage = 'bench.local/pause:1';

/**
 * The CRI settings of one daemon: the sandbox image, restrict_oom_score_adj (root here lacks
 * CAP_SYS_RESOURCE, so a pause at -998 would fail) and a CNI bridge conflist of its own in dir.
 */
function criConfig(dir: string, bridge: string, subnet: string, cleanup: Cleanup): string[] {
  const confDir = join(dir, 'net.d');
  mkdirSync(confDir, { recursive: true });
  const ipam = { type: 'host-local', ranges: [[{ subnet }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: join(dir, 'ipam') };
  const list = { cniVersion: '1.0.0', name: `bench-${bridge}`, plugins: [{ type: 'bridge', bridge, isGateway: true, ipMasq: false, ipam }] };
  writeFileSync(join(confDir, '10-bench.conflist'), JSON.stringify(list));
  cleanup.add(`the CRI bridge ${bridge}`, () => {
    spawnSync('ip', ['link', 'delete', 'dev', bridge], { stdio: 'ignore' });
  });
  return [
    '[plugins."io.containerd.grpc.v1.cri"]',
    `  sandbox_image = "${criSandboxImage}"`,
    '  restrict_oom_score_adj = true',
    '[plugins."io.containerd.grpc.v1.cri".cni]',
    '  bin_dir = "/usr/lib/cni"',
    `  conf_dir = ${JSON.stringify(confDir)}`,
  ];
}

/** Runs a command to completion; a failure throws with its output. */
function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 120_000 });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}

const onPath = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

/** Refuses early, with a hint, when the bench cannot run here. */
export function checkPrerequisites(): void {
  if (process.getuid?.() !== 0) throw new Error('the bench mounts a loop filesystem and runs containerd: run it as root');
  if (!onPath('containerd')) throw new Error('containerd is not installed: apt-get install containerd');
  for (const cmd of ['mkfs.ext4', 'tune2fs', 'mount', 'umount']) {
    if (!onPath(cmd)) throw new Error(`${cmd} is missing: apt-get install e2fsprogs mount`);
  }
  if (!existsSync(join(repo, 'dist', 'daemon', 'main.js'))) throw new Error('dist/ is missing: run `npm run build` first');
}

/**
 * A journaled ext4 on a sparse file, loop-mounted on a temporary directory. The inode tables
 * and journal are initialised by mkfs, so no ext4lazyinit thread writes behind the bench.
 */
export function scratchFilesystem(opts: SetupOptions, cleanup: Cleanup): string {
  const tmp = mkdtempSync('/tmp/berth-bench-');
  cleanup.add(`remove ${tmp}`, () => rmSync(tmp, { recursive: true, force: true }));
  const image = join(opts.imageDir, `berth-bench-${randomBytes(4).toString('hex')}.img`);
  cleanup.add(`remove ${image}`, () => rmSync(image, { force: true }));
  const fd = openSync(image, 'wx', 0o600);
  try {
    ftruncateSync(fd, opts.sizeGiB * 2 ** 30);
  } finally {
    closeSync(fd);
  }
  sh('mkfs.ext4', ['-q', '-F', '-j', '-E', 'lazy_itable_init=0,lazy_journal_init=0', image]);
  if (!/has_journal/.test(sh('tune2fs', ['-l', image]))) throw new Error(`mkfs.ext4 made ${image} without a journal`);

  const mnt = join(tmp, 'mnt');
  mkdirSync(mnt);
  sh('mount', ['-o', 'loop', image, mnt]);
  cleanup.add(`umount ${mnt}`, async () => {
    for (let i = 0; ; i++) {
      const r = spawnSync('umount', [mnt], { encoding: 'utf8' });
      if (r.status === 0) return;
      if (i === 20) {
        // Still busy after ~2 s: detach it lazily so nothing stays mounted, and say so.
        sh('umount', ['-l', mnt]);
        throw new Error(`${mnt} was busy (${r.stderr.trim()}); detached lazily`);
      }
      await sleep(100);
    }
  });
  return mnt;
}

/** Starts a daemon process, keeps the tail of its output, and stops it on cleanup. */
function startProcess(name: DaemonName, cmd: string, args: string[], env: Record<string, string>, cleanup: Cleanup, hideCgroup2 = false) {
  // exec'd in place by unshare and sh: the pid stays the daemon's
  if (hideCgroup2) [cmd, ...args] = withoutCgroup2([cmd, ...args]);
  // detached: the daemon gets its own process group, so a terminal ^C reaches only the bench,
  // which then stops the daemons itself, in order, before unmounting.
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: { ...process.env, ...env } });
  let tail = '';
  const keep = (d: Buffer) => {
    tail = (tail + d.toString()).slice(-16_384);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  proc.on('error', (err) => keep(Buffer.from(`spawn failed: ${err.message}\n`)));
  cleanup.add(`stop ${name}`, () => stopProcess(proc));
  return { proc, log: () => tail };
}

const running = (proc: ChildProcess) => proc.exitCode === null && proc.signalCode === null;

/** SIGTERM (so a profiling berthd writes its profile), then SIGKILL after 10 s. */
async function stopProcess(proc: ChildProcess): Promise<void> {
  if (proc.pid === undefined || !running(proc)) return;
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

async function sleep(ms: number) {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls Version until the daemon answers; fails early if it exits. */
async function waitReady(name: string, address: string, proc: ChildProcess, log: () => string): Promise<void> {
  const probe = new BerthClient({ address, timeoutMs: 1000 });
  try {
    for (const start = Date.now(); Date.now() - start < 30_000; ) {
      if (!running(proc)) throw new Error(`${name} exited early:\n${log()}`);
      if (existsSync(address)) {
        const ok = await probe.version.Version({}).then(
          () => true,
          () => false,
        );
        if (ok) return;
      }
      await sleep(50);
    }
    throw new Error(`${name} did not answer Version within 30 s:\n${log()}`);
  } finally {
    probe.close();
  }
}

function daemon(name: DaemonName, address: string, root: string, contentDir: string, started: { proc: ChildProcess; log: () => string }): Daemon {
  return {
    name,
    address,
    root,
    pid: started.proc.pid!,
    client: (namespace) => new BerthClient({ address, namespace }),
    blobPath: (digest) => join(contentDir, 'blobs', ...digest.split(':')),
    log: started.log,
    cpuSeconds: () => cpuSeconds(started.proc.pid!),
    exited: () => (running(started.proc) ? undefined : `exited with ${started.proc.exitCode ?? started.proc.signalCode}`),
  };
}

export const clockTicks = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** utime + stime of a process from /proc/<pid>/stat (fields 14 and 15), in seconds. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields[0] is field 3
  return (Number(fields[11]) + Number(fields[12])) / clockTicks;
}

/** containerd 1.6 with its own root, state and socket under dir; CRI off unless `cri`. */
export async function startContainerd(dir: string, cleanup: Cleanup, hideCgroup2 = false, cri = false): Promise<Daemon> {
  const root = join(dir, 'root');
  const state = join(dir, 'state');
  const address = join(dir, 'containerd.sock');
  mkdirSync(dir, { recursive: true });
  const config = join(dir, 'config.toml');
  writeFileSync(
    config,
    [
      'version = 2',
      `root = ${JSON.stringify(root)}`,
      `state = ${JSON.stringify(state)}`,
      ...(cri ? [] : ['disabled_plugins = ["io.containerd.grpc.v1.cri"]']),
      '',
      '[grpc]',
      `  address = ${JSON.stringify(address)}`,
      '[ttrpc]',
      `  address = ${JSON.stringify(`${address}.ttrpc`)}`,
      '[debug]',
      '  level = "warn"',
      '[plugins."io.containerd.internal.v1.opt"]',
      `  path = ${JSON.stringify(join(dir, 'opt'))}`,
      ...(cri ? criConfig(dir, 'btbenchpodc', '10.236.0.0/24', cleanup) : []),
      '',
    ].join('\n'),
  );
  const started = startProcess('containerd', 'containerd', ['--config', config], {}, cleanup, hideCgroup2);
  await waitReady('containerd', address, started.proc, started.log);
  return daemon('containerd', address, root, join(root, 'io.containerd.content.v1.content'), started);
}

/** berthd (this checkout's dist/) with its own root, state and socket under dir. */
export async function startBerthd(dir: string, cleanup: Cleanup, env: Record<string, string> = {}, hideCgroup2 = false, cri = false): Promise<Daemon> {
  const root = join(dir, 'root');
  const state = join(dir, 'state');
  const address = join(dir, 'berth.sock');
  mkdirSync(dir, { recursive: true });
  const bin = join(repo, 'bin', 'berthd');
  // a default network of the bench's own, removed at the end: the host's berth0 is not the bench's
  const bridge = 'btbench0';
  const config = join(dir, 'config.toml');
  writeFileSync(
    config,
    [
      'version = 2',
      '[plugins."io.berth.network.v1.cni"]',
      `default_bridge = "${bridge}"`,
      'default_subnet = "10.234.0.0/24"',
      'subnet_pool = "10.235.0.0/20"',
      ...(cri ? criConfig(dir, 'btbenchpodb', '10.236.1.0/24', cleanup) : []),
      '',
    ].join('\n'),
  );
  cleanup.add(`the bench's bridge ${bridge}`, async () => {
    await removeIsolation(bridge).catch(() => undefined);
    spawnSync('ip', ['link', 'delete', 'dev', bridge], { stdio: 'ignore' });
  });
  const args = ['--root', root, '--state', state, '--address', address, '--config', config, '--log-level', 'warn'];
  const started = startProcess('berthd', bin, args, env, cleanup, hideCgroup2);
  await waitReady('berthd', address, started.proc, started.log);
  return daemon('berthd', address, root, join(root, 'content'), started);
}

/** The scratch filesystem and both daemons on it, containerd first. */
export async function setup(opts: SetupOptions, cleanup: Cleanup): Promise<{ mnt: string; daemons: Daemon[] }> {
  const mnt = scratchFilesystem(opts, cleanup);
  const containerd = await startContainerd(join(mnt, 'containerd'), cleanup, opts.hideCgroup2, opts.cri);
  const berthd = await startBerthd(join(mnt, 'berthd'), cleanup, opts.berthdEnv, opts.hideCgroup2, opts.cri);
  return { mnt, daemons: [containerd, berthd] };
}

/** Flushes dirty pages, so one run's writeback does not land in the next one's timing. */
export function syncDisks(): void {
  spawnSync('sync');
}

export { sleep };
