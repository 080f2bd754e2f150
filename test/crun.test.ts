import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BerthClient } from '../transport/client.ts';
import { CGROUP2_MAGIC, cgroupRoot, hybridUnified, withoutCgroup2 } from './support/cgroup-view.ts';
import { type Berthd, berthBin, berthdBin, removeRuntimeLeftovers } from './support/harness.ts';
import { bridgesUnder, networkConfigToml, removeTestBridges, uniqueTestNetwork } from './support/network.ts';
import { describeAsRoot, have, installed } from './support/root.ts';
import { loadRunImage } from './support/run-image.ts';
import { sleep } from './support/util.ts';

/**
 * crun as the OCI runtime of the runc shim (`berth run --runc-binary crun`, the BinaryName
 * runtime option). Debian 12's crun 1.8.1 refuses hybrid cgroup hosts ("cgroups in hybrid mode
 * not supported"), such as a v1 host with cgroup2 at /sys/fs/cgroup/unified. On such a host
 * berthd (and so its shims, runc/crun and the containers) runs in a private mount namespace
 * where the cgroup2 mount is unmounted: a pure cgroup v1 host as far as crun can tell. On a
 * pure v1 or v2 host berthd runs as is.
 */

const crunCanRun = { ok: !hybridUnified || have('unshare'), reason: 'hybrid cgroup host and no unshare(1) to hide the cgroup2 mount' };

/** Runs `args` where crun sees the same cgroups as berthd's containers (the private namespace on a hybrid host). */
function inCrunView(args: string[]) {
  const cmd = withoutCgroup2(args);
  return spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8', timeout: 30_000 });
}

describeAsRoot('crun as the OCI runtime', [installed('crun'), crunCanRun], () => {
  const ns = 'crun';
  let dir = '';
  let state = '';
  let address = '';
  let proc: ChildProcess | undefined;
  let log = '';
  let image = '';
  const clients: BerthClient[] = [];
  const network = uniqueTestNetwork();
  const berth = (args: string[], input = '') => {
    const r = spawnSync(berthBin, ['--address', address, '-n', ns, ...args], {
      input,
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, BERTH_FIFO_DIR: join(dir, 'fifo') },
    });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
  const crunRoot = () => join(state, 'runc', ns);
  const crunList = () => inCrunView(['crun', '--root', crunRoot(), 'list', '-q']).stdout.split('\n').filter(Boolean);
  /** The container's directories in every v1 controller (and in v2 on a pure v2 host). */
  const cgroupDirs = (id: string) => {
    if (!hybridUnified && statfsSync(cgroupRoot).type === CGROUP2_MAGIC) return [join(cgroupRoot, ns, id)].filter(existsSync);
    return readdirSync(cgroupRoot)
      .map((c) => join(cgroupRoot, c, ns, id))
      .filter(existsSync);
  };

  beforeAll(async () => {
    dir = mkdtempSync('/tmp/berth-crun-');
    state = join(dir, 'state');
    address = join(dir, 'berth.sock');
    // a default network of its own, as startBerthd gives every test daemon
    writeFileSync(join(dir, 'network.toml'), `version = 2\n${networkConfigToml(network)}`);
    const args = [
      berthdBin,
      '--root',
      join(dir, 'root'),
      '--state',
      state,
      '--address',
      address,
      '--log-level',
      'debug',
      '--config',
      join(dir, 'network.toml'),
    ];
    const cmd = withoutCgroup2(args);
    proc = spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout!.on('data', (d) => (log += d));
    proc.stderr!.on('data', (d) => (log += d));
    const probe = new BerthClient({ address, timeoutMs: 1000 });
    try {
      for (let i = 0; ; i++) {
        if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`berthd exited early:\n${log}`);
        if (
          existsSync(address) &&
          (await probe.version.Version({}).then(
            () => true,
            () => false,
          ))
        )
          break;
        if (i === 200) throw new Error(`berthd did not come up:\n${log}`);
        await sleep(50);
      }
    } finally {
      probe.close();
    }
    // loadRunImage needs only these two of the harness's Berthd
    const daemon = {
      address,
      berth: (a: string[]) => {
        const r = spawnSync(berthBin, ['--address', address, ...a], { encoding: 'utf8' });
        return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
      },
    } as unknown as Berthd;
    image = await loadRunImage(daemon, { ns });
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise((r) => proc!.once('exit', r));
      proc.kill('SIGKILL');
      await exited;
    }
    if (!dir) return;
    // crun deletes (and kills) its containers only where it accepts the cgroup layout
    if (existsSync(crunRoot())) for (const id of crunList()) inCrunView(['crun', '--root', crunRoot(), 'delete', '--force', id]);
    // anything still in a container cgroup of ours (crun gone wrong): killed, then the cgroup removed
    for (const ctrl of readdirSync(cgroupRoot)) {
      const nsDir = join(cgroupRoot, ctrl, ns);
      if (!existsSync(nsDir)) continue;
      for (const id of readdirSync(nsDir, { withFileTypes: true }).filter((e) => e.isDirectory())) {
        const cg = join(nsDir, id.name);
        try {
          for (const pid of readFileSync(join(cg, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) process.kill(Number(pid), 'SIGKILL');
        } catch {
          // gone, or not a controller hierarchy
        }
        for (let i = 0; i < 20; i++) {
          try {
            rmdirSync(cg);
            break;
          } catch {
            await sleep(50);
          }
        }
      }
    }
    // shims (by cwd), mounts, the namespace's cgroups
    removeRuntimeLeftovers(dir, join(state, 'runc'));
    await removeTestBridges([network.bridge, ...bridgesUnder(join(dir, 'root'))]);
    rmSync(dir, { recursive: true, force: true });
  });

  it.skipIf(!hybridUnified)('on this hybrid host crun refuses to run; berthd runs without the cgroup2 mount', () => {
    // the reason for the private namespace: the same crun refuses the host as it is
    const bundle = join(dir, 'probe');
    mkdirSync(join(bundle, 'rootfs'), { recursive: true });
    expect(spawnSync('crun', ['spec'], { cwd: bundle }).status).toBe(0);
    const config = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as { process: { terminal: boolean } };
    config.process.terminal = false;
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(config));
    const mine = spawnSync('crun', ['--root', join(dir, 'probe-root'), 'run', '--bundle', bundle, 'probe'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    expect(mine.status).not.toBe(0);
    expect(mine.stderr).toMatch(/cgroups in hybrid mode not supported/);
    // berthd's view has no cgroup2 mount, ours still has
    expect(readFileSync(`/proc/${proc!.pid}/mountinfo`, 'utf8')).not.toContain(` ${hybridUnified} `);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).toContain(` ${hybridUnified} `);
  });

  it('berth run --runc-binary crun: output, exit codes', () => {
    expect(berth(['run', '--rm', '--runc-binary', 'crun', image, 'hello', 'echo', 'hello from crun'])).toEqual({
      code: 0,
      stdout: 'hello from crun\n',
      stderr: '',
    });
    expect(berth(['run', '--rm', '--runc-binary', 'crun', image, 'seven', 'sh', '-c', 'echo out; echo err >&2; exit 7'])).toEqual({
      code: 7,
      stdout: 'out\n',
      stderr: 'err\n',
    });
    expect(berth(['run', '--rm', '--runc-binary', 'crun', image, 'stdin', 'cat'], 'piped in\n')).toMatchObject({ code: 0, stdout: 'piped in\n' });
    expect(berth(['c', 'ls', '-q']).stdout).toBe('');
    expect(cgroupDirs('hello')).toEqual([]);
  });

  it('detached under crun: crun owns it, exec works, SIGKILL gives 137, rm removes its cgroups', async () => {
    expect(berth(['run', '-d', '--null-io', '--runc-binary', 'crun', '--memory-limit', '67108864', image, 'bg', 'sleep', '1000'])).toEqual({
      code: 0,
      stdout: '',
      stderr: '',
    });
    const line = berth(['tasks', 'ls'])
      .stdout.split('\n')
      .find((l) => l.startsWith('bg '));
    expect(line).toMatch(/^bg\s+\d+\s+RUNNING$/);
    const pid = Number(line!.split(/\s+/)[1]);
    // it is crun's container (runc does not know it), in the cgroup the spec names
    expect(crunList()).toEqual(['bg']);
    expect(spawnSync('runc', ['--root', crunRoot(), 'list', '-q'], { encoding: 'utf8' }).stdout).toBe('');
    const memCg = hybridUnified || statfsSync(cgroupRoot).type !== CGROUP2_MAGIC ? join(cgroupRoot, 'memory', ns, 'bg') : join(cgroupRoot, ns, 'bg');
    expect(readFileSync(join(memCg, 'cgroup.procs'), 'utf8').split('\n')).toContain(String(pid));
    expect(readFileSync(join(memCg, existsSync(join(memCg, 'memory.max')) ? 'memory.max' : 'memory.limit_in_bytes'), 'utf8').trim()).toBe('67108864');
    expect(cgroupDirs('bg').length).toBeGreaterThan(0);

    expect(berth(['tasks', 'exec', '--exec-id', 'e1', 'bg', 'sh', '-c', 'echo in exec; exit 4'])).toMatchObject({ code: 4, stdout: 'in exec\n' });
    expect(berth(['tasks', 'exec', '--exec-id', 'e2', 'bg', 'cat', '/proc/1/cmdline'])).toMatchObject({ code: 0, stdout: 'sleep\u00001000\u0000' });

    expect(berth(['tasks', 'kill', '-s', 'KILL', 'bg']).code).toBe(0);
    expect(berth(['tasks', 'wait', 'bg'])).toMatchObject({ code: 0, stdout: '137\n' });
    expect(berth(['tasks', 'rm', 'bg']).code).toBe(0);
    expect(berth(['c', 'rm', 'bg']).code).toBe(0);
    expect(crunList()).toEqual([]);
    for (let i = 0; i < 20 && cgroupDirs('bg').length > 0; i++) await sleep(100);
    expect(cgroupDirs('bg')).toEqual([]);
    // nothing of the container is left mounted in berthd's namespace
    expect(readFileSync(`/proc/${proc!.pid}/mountinfo`, 'utf8')).not.toContain(join(state, 'io.containerd.runtime.v2.task', ns, 'bg'));
  });

  it('berth run (attached) killed from outside: the run ends with 137', async () => {
    const p = spawn(
      berthBin,
      ['--address', address, '-n', ns, 'run', '--rm', '--runc-binary', 'crun', image, 'victim', 'sh', '-c', 'echo ready; exec sleep 1000'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, BERTH_FIFO_DIR: join(dir, 'fifo') },
      },
    );
    let out = '';
    p.stdout!.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
    for (let i = 0; i < 200 && !out.includes('ready'); i++) await sleep(50);
    expect(out).toBe('ready\n');
    expect(berth(['tasks', 'kill', '-s', 'KILL', 'victim']).code).toBe(0);
    expect(await exited).toBe(137);
    expect(berth(['c', 'ls', '-q']).stdout).toBe('');
    expect(crunList()).toEqual([]);
  });
});
