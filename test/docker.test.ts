import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../core/registry/client.ts';
import { parseReference } from '../core/registry/reference.ts';
import { type Berthd, removeRuntimeLeftovers, startBerthd, startContainerd } from './support/harness.ts';
import { startRegistry, type TestRegistry } from './support/registry/registry.ts';
import { loadRunImage, pushRunImage } from './support/run-image.ts';
import { sleep, startTogether } from './support/util.ts';

// Debian's dockerd (package docker.io) and its own client, whatever else is on PATH
const dockerdBin = '/usr/sbin/dockerd';
const dockerBin = '/usr/bin/docker';

interface Dockerd {
  docker(args: string[]): { code: number; stdout: string; stderr: string };
  /** `docker inspect -f` of one container */
  inspect(container: string, format: string): string;
  output(): string;
  /** SIGTERM, wait, and start it again on the same paths (its containers live on: --live-restore) */
  restart(): Promise<void>;
  cleanup(): Promise<void>;
}

/**
 * Starts Debian's dockerd on its own temporary data-root, exec-root, socket and cgroup parent,
 * with containerd's address given as `containerd` (berthd's socket or a containerd's), without
 * networking of its own (no bridge, iptables or userland proxy), and with --live-restore.
 */
async function startDockerd(containerd: string): Promise<Dockerd> {
  const dir = mkdtempSync('/tmp/berth-docker-');
  const socket = join(dir, 'docker.sock');
  const cgroupParent = basename(dir);
  let log = '';
  let proc: ChildProcess | undefined;
  const docker = (args: string[]) => {
    const r = spawnSync(dockerBin, args, {
      env: { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: join(dir, 'client') },
      encoding: 'utf8',
      timeout: 60_000,
    });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
  const stop = async () => {
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((resolve) => proc!.once('exit', resolve));
    proc.kill('SIGTERM');
    await Promise.race([exited, sleep(20_000)]);
    proc.kill('SIGKILL');
  };
  const launch = async () => {
    proc = spawn(
      dockerdBin,
      [
        '--containerd',
        containerd,
        '--data-root',
        join(dir, 'data'),
        '--exec-root',
        join(dir, 'exec'),
        '--host',
        `unix://${socket}`,
        '--pidfile',
        join(dir, 'docker.pid'),
        '--cgroup-parent',
        cgroupParent,
        '--bridge=none',
        '--iptables=false',
        '--ip6tables=false',
        '--userland-proxy=false',
        '--live-restore',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    proc.stdout!.on('data', (d) => (log += d));
    proc.stderr!.on('data', (d) => (log += d));
    for (let i = 0; docker(['version']).code !== 0; i++) {
      if (i === 150 || proc.exitCode !== null) throw new Error(`dockerd did not start:\n${log}`);
      await sleep(200);
    }
  };
  const cleanup = async () => {
    await stop();
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
  try {
    await launch();
  } catch (err) {
    await cleanup();
    throw err;
  }
  return {
    docker,
    inspect: (c, f) => docker(['inspect', '-f', f, c]).stdout.trim(),
    output: () => log,
    async restart() {
      await stop();
      await launch();
    },
    cleanup,
  };
}

/** Polls until `cond` holds or `ms` pass; returns whether it held. */
async function eventually(cond: () => boolean, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(200)) if (cond()) return true;
  return cond();
}

/** Whether a process runs (not a zombie); one that exits while it is looked at does not. */
const alive = (pid: number) => {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
};

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
  let registry: TestRegistry | undefined;
  /** the test image in the test registry (Debian's docker-registry on 127.0.0.1, plain HTTP) */
  let pushed: string;
  beforeAll(async () => {
    if (!existsSync(dockerdBin) || !existsSync(dockerBin))
      throw new Error(`${dockerdBin} or ${dockerBin} is missing: install the Debian package docker.io (CI does)`);
    [imageBerthd, registry] = await startTogether([startBerthd(), startRegistry()]);
    // the test image, as a `docker load` archive written by `berth images export`
    const image = await loadRunImage(imageBerthd, { ns: 'export' });
    archive = join(imageBerthd.dir, 'image.tar');
    const r = imageBerthd.berth(['-n', 'export', 'images', 'export', archive, image]);
    if (r.code !== 0) throw new Error(`berth images export: ${r.stderr}`);
    // and in the registry
    pushed = `${registry.host}/docker/busybox:1`;
    const client = new RegistryClient();
    try {
      await pushRunImage(client, parseReference(pushed));
    } finally {
      client.close();
    }
  }, 60_000);
  afterAll(async () => {
    await Promise.all([imageBerthd?.cleanup(), registry?.stop()]);
  });

  describe.each([
    ['berthd', async (): Promise<Backend & { cleanup(): Promise<void> }> => startBerthd()],
    ['containerd', async (): Promise<Backend & { cleanup(): Promise<void> }> => startContainerd()],
  ])('on %s', (name, start) => {
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

    // dockerd speaks plain HTTP to a registry on 127.0.0.0/8 unless told otherwise
    it('docker pull from the test registry, and docker run of the pulled image', () => {
      const pull = docker(['pull', pushed]);
      expect(pull.code, pull.stderr).toBe(0);
      const r = docker(['run', '--rm', pushed, 'sh', '-c', 'echo "$IMAGE_VAR"; cat /work/hello.txt; exit 2']);
      expect(r.stdout).toBe('from-image\nhello from the run image\n');
      expect(r.code).toBe(2);
      expect(docker(['rmi', pushed]).code).toBe(0);
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

    // containerd's shim retries an event for about 15 s and containerd publishes it to whoever is
    // subscribed at that moment: when dockerd, waiting out its reconnection back-off, is not yet,
    // the exit is lost and docker shows the container running for good. Whether it is depends on
    // timing (seen both ways with Debian's containerd 1.6.20 at 3 s and at 10 s), so on containerd
    // that one check is reported, not asserted; berthd keeps the events for the first minute.
    for (const outage of [3, 10]) {
      it(`after a ${outage} s outage of the backend (SIGKILL), docker shows the exit that happened meanwhile and keeps working`, async () => {
        const [stays, quits] = [`stays${outage}`, `quits${outage}`];
        try {
          expect(docker(['run', '-d', '--name', stays, 'busybox', 'sleep', '1000']).code).toBe(0);
          expect(docker(['run', '-d', '--name', quits, 'busybox', 'sh', '-c', 'sleep 2; exit 5']).code).toBe(0);
          const quitsPid = Number(d!.inspect(quits, '{{.State.Pid}}'));
          const staysPid = Number(d!.inspect(stays, '{{.State.Pid}}'));
          await backend!.kill();
          const killedAt = Date.now();
          expect(await eventually(() => !alive(quitsPid), 10_000)).toBe(true);
          await sleep(outage * 1000 - (Date.now() - killedAt));
          await backend!.restart();

          const state = () => d!.inspect(quits, '{{.State.Status}} {{.State.ExitCode}}');
          const exitSeen = await eventually(() => state() === 'exited 5', 30_000);
          if (name === 'berthd') expect(exitSeen, state()).toBe(true);
          else if (!exitSeen) console.warn(`known: ${name} lost the exit of a container during a ${outage} s outage; docker says "${state()}"`);
          expect(d!.inspect(stays, '{{.State.Status}} {{.State.Pid}}')).toBe(`running ${staysPid}`);
          expect(alive(staysPid)).toBe(true);
          expect(docker(['exec', stays, 'echo', 'still here']).stdout).toBe('still here\n');
          const r = docker(['run', '--rm', 'busybox', 'sh', '-c', 'echo after; exit 6']);
          expect(r.stdout).toBe('after\n');
          expect(r.code).toBe(6);
        } finally {
          docker(['rm', '-f', stays, quits]);
        }
      }, 90_000);
    }

    it('a --restart=always container that keeps exiting is started again each time', async () => {
      expect(docker(['run', '-d', '--name', 'again', '--restart=always', 'busybox', 'sh', '-c', 'sleep 1; exit 3']).code).toBe(0);
      expect(
        await eventually(() => Number(d!.inspect('again', '{{.RestartCount}}')) >= 2, 30_000),
        d!.inspect('again', '{{.RestartCount}} {{.State.Status}}'),
      ).toBe(true);
      expect(docker(['rm', '-f', 'again']).code).toBe(0);
    }, 60_000);

    it('with --live-restore, a container keeps running through a dockerd restart and is still managed after it', async () => {
      expect(docker(['run', '-d', '--name', 'lives', 'busybox', 'sleep', '1000']).code).toBe(0);
      const pid = Number(d!.inspect('lives', '{{.State.Pid}}'));
      await d!.restart();
      expect(d!.inspect('lives', '{{.State.Status}} {{.State.Pid}}')).toBe(`running ${pid}`);
      expect(docker(['exec', 'lives', 'echo', 'alive']).stdout).toBe('alive\n');
      expect(docker(['kill', '-s', 'KILL', 'lives']).code).toBe(0);
      expect(await eventually(() => d!.inspect('lives', '{{.State.Status}} {{.State.ExitCode}}') === 'exited 137', 10_000)).toBe(true);
      expect(docker(['rm', 'lives']).code).toBe(0);
    }, 90_000);
  });
});
