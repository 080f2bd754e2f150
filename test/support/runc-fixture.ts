// Test support (for the monitor's and the ttrpc shim client's tests): a throw-away busybox container run by the
// real runc, under its own runc --root, with its cgroups under /berthtest/<id>, and a
// cleanup that removes the container, its state, its bundle and its cgroup directories.
import { type StdioOptions, spawn } from 'node:child_process';
import { existsSync, promises as fs, readdirSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const cgroupRoot = '/sys/fs/cgroup';
const applets = ['sh', 'echo', 'stty', 'sleep', 'head', 'tr', 'tail', 'cat', 'true', 'dd'];

export interface FixtureOptions {
  args: string[];
  terminal?: boolean;
  /** linux.resources.memory.limit (and swap = the same, so no swapping) */
  memoryLimit?: number;
  pidsLimit?: number;
  binary?: string;
}

export interface RunResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

export class RuncFixture {
  readonly id: string;
  readonly cgroupsPath: string;
  readonly bundle: string;
  readonly root: string;

  private constructor(
    readonly dir: string,
    readonly binary: string,
  ) {
    this.id = `berthtest-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    this.cgroupsPath = `/berthtest/${this.id}`;
    this.bundle = join(dir, 'bundle');
    this.root = join(dir, 'state');
  }

  /** Writes a busybox bundle (rootfs + config.json) in a fresh temporary directory. */
  static async create(opts: FixtureOptions): Promise<RuncFixture> {
    const f = new RuncFixture(await fs.mkdtemp(join(tmpdir(), 'berth-runc-')), opts.binary ?? 'runc');
    const rootfs = join(f.bundle, 'rootfs');
    for (const d of ['bin', 'proc', 'dev', 'sys', 'tmp']) await fs.mkdir(join(rootfs, d), { recursive: true });
    await fs.mkdir(f.root);
    await fs.copyFile('/bin/busybox', join(rootfs, 'bin', 'busybox'));
    await fs.chmod(join(rootfs, 'bin', 'busybox'), 0o755);
    for (const a of applets) await fs.symlink('busybox', join(rootfs, 'bin', a));
    const resources: Record<string, unknown> = {};
    if (opts.memoryLimit !== undefined) resources.memory = { limit: opts.memoryLimit, swap: opts.memoryLimit };
    if (opts.pidsLimit !== undefined) resources.pids = { limit: opts.pidsLimit };
    const spec = {
      ociVersion: '1.0.2',
      process: {
        terminal: opts.terminal ?? false,
        user: { uid: 0, gid: 0 },
        args: opts.args,
        env: ['PATH=/bin', 'TERM=xterm'],
        cwd: '/',
        capabilities: {
          bounding: ['CAP_KILL', 'CAP_AUDIT_WRITE', 'CAP_NET_BIND_SERVICE'],
          effective: ['CAP_KILL', 'CAP_AUDIT_WRITE', 'CAP_NET_BIND_SERVICE'],
          permitted: ['CAP_KILL', 'CAP_AUDIT_WRITE', 'CAP_NET_BIND_SERVICE'],
        },
        noNewPrivileges: true,
      },
      root: { path: 'rootfs', readonly: true },
      hostname: 'berthtest',
      mounts: [
        { destination: '/proc', type: 'proc', source: 'proc' },
        { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
        { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] },
        { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'size=65536k'] },
      ],
      linux: {
        cgroupsPath: f.cgroupsPath,
        resources,
        namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'network' }],
        maskedPaths: ['/proc/kcore', '/proc/keys', '/sys/firmware'],
        readonlyPaths: ['/proc/sys', '/proc/sysrq-trigger'],
      },
    };
    await fs.writeFile(join(f.bundle, 'config.json'), JSON.stringify(spec));
    return f;
  }

  /** Runs `runc --root <state> <args>`. */
  runc(args: string[], stdio: StdioOptions = ['ignore', 'pipe', 'pipe']): Promise<RunResult> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.binary, ['--root', this.root, ...args], { stdio });
      let stdout = '';
      let stderr = '';
      child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.once('error', reject);
      child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    });
  }

  async mustRunc(args: string[], stdio?: StdioOptions): Promise<string> {
    const r = await this.runc(args, stdio);
    if (r.code !== 0) throw new Error(`runc ${args.join(' ')}: exit ${r.code}: ${r.stderr}`);
    return r.stdout;
  }

  /** `runc create` with no stdio (the container would hold our pipes open), then `runc start`. */
  async createAndStart(): Promise<number> {
    const log = join(this.dir, 'runc.log');
    const r = await this.runc(['--log', log, 'create', '--bundle', this.bundle, this.id], ['ignore', 'ignore', 'ignore']);
    if (r.code !== 0) throw new Error(`runc create: exit ${r.code}: ${await fs.readFile(log, 'utf8').catch(() => '')}`);
    const { pid } = await this.state();
    await this.mustRunc(['start', this.id]);
    return pid;
  }

  async state(): Promise<{ status: string; pid: number }> {
    return JSON.parse(await this.mustRunc(['state', this.id]));
  }

  /** Polls `runc state` until the container has stopped. */
  async waitStopped(timeoutMs = 20_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while ((await this.state()).status !== 'stopped') {
      if (Date.now() > end) throw new Error(`container ${this.id} still running`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Removes the container (killing it), its state and bundle, and its cgroup directories. */
  async cleanup(): Promise<void> {
    await this.runc(['delete', '--force', this.id]).catch(() => undefined);
    for (const ctrl of controllerDirs()) {
      const dir = join(ctrl, this.cgroupsPath);
      for (let i = 0; i < 50 && existsSync(dir); i++) {
        try {
          rmdirSync(dir);
        } catch {
          await new Promise((r) => setTimeout(r, 20)); // tasks still leaving
        }
      }
      try {
        rmdirSync(join(ctrl, 'berthtest')); // fails while another test's container is there
      } catch {
        // in use or absent
      }
    }
    await fs.rm(this.dir, { recursive: true, force: true });
  }
}

/** Every cgroup hierarchy mount under /sys/fs/cgroup (v1 controllers, and unified). */
function controllerDirs(): string[] {
  if (existsSync(join(cgroupRoot, 'cgroup.controllers'))) return [cgroupRoot];
  return readdirSync(cgroupRoot, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => join(cgroupRoot, e.name));
}
