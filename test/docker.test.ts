import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeRuntimeLeftovers, startBerthd, startContainerd, type Berthd } from './harness.ts';
import { loadRunImage } from './run-image.ts';
import { sleep } from './util.ts';

// Debian's dockerd (package docker.io) and its own client, whatever else is on PATH
const dockerdBin = '/usr/sbin/dockerd';
const dockerBin = '/usr/bin/docker';

interface Dockerd {
  docker(args: string[]): { code: number; stdout: string; stderr: string };
  /** `docker inspect -f` of one container */
  inspect(container: string, format: string): string;
  output(): string;
  cleanup(): Promise<void>;
}

/**
 * Starts Debian's dockerd on its own temporary data-root, exec-root, socket and cgroup parent,
 * with containerd's address given as `containerd` (berthd's socket or a containerd's), and
 * without networking of its own (no bridge, iptables or userland proxy).
 */
async function startDockerd(containerd: string): Promise<Dockerd> {
  const dir = mkdtempSync('/tmp/berth-docker-');
  const socket = join(dir, 'docker.sock');
  const cgroupParent = basename(dir);
  let log = '';
  const proc: ChildProcess = spawn(
    dockerdBin,
    [
      '--containerd', containerd,
      '--data-root', join(dir, 'data'),
      '--exec-root', join(dir, 'exec'),
      '--host', `unix://${socket}`,
      '--pidfile', join(dir, 'docker.pid'),
      '--cgroup-parent', cgroupParent,
      '--bridge=none', '--iptables=false', '--ip6tables=false', '--userland-proxy=false',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  proc.stdout!.on('data', (d) => (log += d));
  proc.stderr!.on('data', (d) => (log += d));
  const docker = (args: string[]) => {
    const r = spawnSync(dockerBin, args, { env: { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: join(dir, 'client') }, encoding: 'utf8', timeout: 60_000 });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
  const cleanup = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise((resolve) => proc.once('exit', resolve));
      proc.kill('SIGTERM');
      await Promise.race([exited, sleep(20_000)]);
      proc.kill('SIGKILL');
    }
    // its containers (runc state under exec-root), processes, overlay mounts, then its cgroups
    removeRuntimeLeftovers(dir, join(dir, 'exec', 'runtime-runc'));
    for (const ctrl of readdirSync('/sys/fs/cgroup')) {
      try {
        rmdirSync(join('/sys/fs/cgroup', ctrl, cgroupParent));
      } catch {
        // not there, or not a hierarchy
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; docker(['version']).code !== 0; i++) {
    if (i === 150 || proc.exitCode !== null) {
      await cleanup();
      throw new Error(`dockerd did not start:\n${log}`);
    }
    await sleep(200);
  }
  return { docker, inspect: (c, f) => docker(['inspect', '-f', f, c]).stdout.trim(), output: () => log, cleanup };
}

/** Polls until `cond` holds or `ms` pass; returns whether it held. */
async function eventually(cond: () => boolean, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(200)) if (cond()) return true;
  return cond();
}

const alive = (pid: number) => existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));

/** What dockerd needs of its containerd: an address, and being killed and started again. */
interface Backend {
  address: string;
  kill(): Promise<void>;
  restart(): Promise<void>;
}

/**
 * Docker embeds containerd as its container backend; berthd must serve it the same way, through
 * a restart of berthd too. Each scenario runs against berthd and against Debian's containerd, so
 * that a scenario containerd fails as well is known as such.
 */
describe('dockerd on berthd and on containerd', () => {
  let archive: string;
  let imageBerthd: Berthd | undefined;
  beforeAll(async () => {
    if (!existsSync(dockerdBin) || !existsSync(dockerBin)) throw new Error(`${dockerdBin} or ${dockerBin} is missing: install the Debian package docker.io (CI does)`);
    // the test image, as a `docker load` archive written by `berth images export`
    imageBerthd = await startBerthd();
    const image = await loadRunImage(imageBerthd, { ns: 'export' });
    archive = join(imageBerthd.dir, 'image.tar');
    const r = imageBerthd.berth(['-n', 'export', 'images', 'export', archive, image]);
    if (r.code !== 0) throw new Error(`berth images export: ${r.stderr}`);
  }, 60_000);
  afterAll(async () => {
    await imageBerthd?.cleanup();
  });

  describe.each([
    ['berthd', async (): Promise<Backend & { cleanup(): Promise<void> }> => startBerthd()],
    ['containerd', async (): Promise<Backend & { cleanup(): Promise<void> }> => startContainerd()],
  ])('on %s', (_name, start) => {
    let backend: (Backend & { cleanup(): Promise<void> }) | undefined;
    let d: Dockerd | undefined;
    let docker: Dockerd['docker'];
    beforeAll(async () => {
      backend = await start();
      d = await startDockerd(backend.address);
      docker = d.docker;
      const r = docker(['load', '-i', archive]);
      if (r.code !== 0) throw new Error(`docker load: ${r.stderr}`);
    }, 120_000);
    afterAll(async () => {
      await d?.cleanup();
      await backend?.cleanup();
    }, 60_000);

    it('docker run --rm gives the output and the exit code', () => {
      const r = docker(['run', '--rm', 'busybox', 'sh', '-c', 'echo hello; echo oops >&2; exit 3']);
      expect(r.stdout).toBe('hello\n');
      expect(r.stderr).toBe('oops\n');
      expect(r.code).toBe(3);
      expect(docker(['ps', '-aq']).stdout).toBe('');
    }, 60_000);

    it('docker run -d: logs, exec with its exit code, stop, kill, start and restart', async () => {
      expect(docker(['run', '-d', '--name', 'web', 'busybox', 'sh', '-c', 'echo started; exec sleep 1000']).code).toBe(0);
      expect(await eventually(() => docker(['logs', 'web']).stdout === 'started\n', 10_000)).toBe(true);
      expect(docker(['exec', 'web', 'echo', 'inside']).stdout).toBe('inside\n');
      expect(docker(['exec', 'web', 'sh', '-c', 'exit 4']).code).toBe(4);
      // sleep as pid 1 ignores SIGTERM: docker stop ends with SIGKILL
      expect(docker(['stop', '-t', '1', 'web']).code).toBe(0);
      expect(d!.inspect('web', '{{.State.Status}} {{.State.ExitCode}}')).toBe('exited 137');
      expect(docker(['start', 'web']).code).toBe(0);
      expect(d!.inspect('web', '{{.State.Status}}')).toBe('running');
      expect(docker(['kill', '-s', 'KILL', 'web']).code).toBe(0);
      expect(await eventually(() => d!.inspect('web', '{{.State.Status}} {{.State.ExitCode}}') === 'exited 137', 10_000)).toBe(true);
      expect(docker(['restart', '-t', '1', 'web']).code).toBe(0);
      expect(d!.inspect('web', '{{.State.Status}}')).toBe('running');
      expect(docker(['exec', 'web', 'echo', 'again']).stdout).toBe('again\n');
      expect(docker(['rm', '-f', 'web']).code).toBe(0);
    }, 60_000);

    it('after the backend is SIGKILLed and started again, docker shows what happened meanwhile and keeps working', async () => {
      expect(docker(['run', '-d', '--name', 'stays', 'busybox', 'sleep', '1000']).code).toBe(0);
      expect(docker(['run', '-d', '--name', 'quits', 'busybox', 'sh', '-c', 'sleep 2; exit 5']).code).toBe(0);
      const quitsPid = Number(d!.inspect('quits', '{{.State.Pid}}'));
      const staysPid = Number(d!.inspect('stays', '{{.State.Pid}}'));
      await backend!.kill();
      // the outage: `quits` ends while nothing serves dockerd
      expect(await eventually(() => !alive(quitsPid), 10_000)).toBe(true);
      await sleep(3000);
      await backend!.restart();

      expect(await eventually(() => d!.inspect('quits', '{{.State.Status}} {{.State.ExitCode}}') === 'exited 5', 30_000), d!.inspect('quits', '{{.State.Status}} {{.State.ExitCode}}')).toBe(true);
      expect(d!.inspect('stays', '{{.State.Status}} {{.State.Pid}}')).toBe(`running ${staysPid}`);
      expect(alive(staysPid)).toBe(true);
      expect(docker(['exec', 'stays', 'echo', 'still here']).stdout).toBe('still here\n');
      const r = docker(['run', '--rm', 'busybox', 'sh', '-c', 'echo after; exit 6']);
      expect(r.stdout).toBe('after\n');
      expect(r.code).toBe(6);
      expect(docker(['rm', '-f', 'stays', 'quits']).code).toBe(0);
    }, 90_000);
  });
});
