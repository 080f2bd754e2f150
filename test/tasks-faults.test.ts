import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { grpcEvents, metadata } from './support/grpc-js.ts';
import { type Berthd, berthdWithRunImage } from './support/harness.ts';
import { sleep } from './support/util.ts';

/**
 * What production throws at containers: a shim that dies, a start that fails under --rm, a
 * container trying to see or reach the host, and hundreds of run/rm cycles that must not leak.
 */
describe('tasks under faults', () => {
  let b: Berthd;
  let image: string;
  const ns = 'faults';
  const berth = (args: string[], input?: string) => b.berth(['-n', ns, ...args], { input });
  /** The shim serving a task: the process whose cwd is the task's bundle. */
  const shimOf = (id: string) => {
    const bundle = join(b.state, 'io.containerd.runtime.v2.task', ns, id);
    for (const p of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
      try {
        const args = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
        if (args.includes(b.address) && args.some((a) => a.endsWith('shim/main.js')) && readlinkSync(`/proc/${p}/cwd`) === bundle) return Number(p);
      } catch {
        // gone
      }
    }
    return 0;
  };
  const cmdline = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  const mountsUnder = (dir: string) =>
    readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .filter((l) => l.split(' ')[4]?.startsWith(dir));

  berthdWithRunImage(
    ns,
    (d, img) => {
      b = d;
      image = img;
    },
    { heapSnapshots: true },
  );

  it('a shim killed with SIGKILL: its task is reported exited and cleaned up', async () => {
    expect(berth(['run', '-d', '--null-io', image, 'victim', 'sleep', '1000']).code).toBe(0);
    const c = b.client(ns);
    const events = grpcEvents(c).Subscribe({ filters: ['topic~="/tasks/"'] }, metadata(c));
    const seen: string[] = [];
    events.on('data', (e: { topic: string }) => seen.push(e.topic));
    events.on('error', () => undefined);
    const shim = shimOf('victim');
    expect(shim).toBeGreaterThan(0);
    const bundle = join(b.state, 'io.containerd.runtime.v2.task', ns, 'victim');
    expect(mountsUnder(bundle)).toHaveLength(1);
    process.kill(shim, 'SIGKILL');
    for (let i = 0; i < 100 && existsSync(bundle); i++) await sleep(100);
    expect(existsSync(bundle)).toBe(false);
    expect(mountsUnder(bundle)).toEqual([]);
    await expect(c.tasks.Get({ container_id: 'victim' })).rejects.toMatchObject({ code: 'NotFound' });
    await sleep(200);
    expect(seen).toContain('/tasks/exit');
    expect(seen).toContain('/tasks/delete');
    events.cancel();
    // the container record stays until removed
    expect(berth(['containers', 'ls', '-q']).stdout).toBe('victim\n');
    expect(berth(['containers', 'rm', 'victim']).code).toBe(0);
  }, 30_000);

  it('a task create adopts the warm shim berthd keeps, and a new one waits for the next', async () => {
    expect(berth(['run', '-d', '--null-io', image, 'warmed', 'sleep', '1000']).code).toBe(0);
    expect(cmdline(shimOf('warmed'))).toContain('warm');
    // the next one starts at the lowest priority: on a busy machine it takes a while
    const waiting = () => readdirSync(join(b.state, 's')).filter((f) => f.startsWith('warm-'));
    for (let i = 0; i < 100 && waiting().length === 0; i++) await sleep(100);
    await sleep(200);
    expect(waiting()).toHaveLength(1);
    expect(berth(['tasks', 'kill', '-s', 'SIGKILL', 'warmed']).code).toBe(0);
    expect(berth(['tasks', 'wait', 'warmed']).stdout).toMatch(/137/);
    expect(berth(['tasks', 'rm', 'warmed']).code).toBe(0);
    expect(berth(['containers', 'rm', 'warmed']).code).toBe(0);
  });

  it('--rm cleans up when the start fails', () => {
    const r = berth(['run', '--rm', image, 'broken', '/no/such/binary']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/no\/such\/binary/);
    expect(berth(['containers', 'ls', '-q']).stdout).toBe('');
    expect(berth(['snapshots', 'ls']).stdout).not.toMatch(/^broken\s/m);
    expect(existsSync(join(b.state, 'io.containerd.runtime.v2.task', ns, 'broken'))).toBe(false);
  });

  it('inside a container: only fds 0-2, no host process, no daemon or shim socket', () => {
    const fds = berth(['run', '--rm', image, 'fds', 'sh', '-c', 'ls /proc/self/fd']);
    // ls itself holds one more: the directory it is listing
    expect(fds.stdout.trim().split(/\s+/).map(Number).sort()).toEqual([0, 1, 2, 3]);
    const ps = berth(['run', '--rm', image, 'ps', 'sh', '-c', 'ls -d /proc/[0-9]*']);
    expect(ps.stdout.trim().split(/\s+/).length).toBeLessThanOrEqual(3);
    const host = berth([
      'run',
      '--rm',
      '--net-host',
      image,
      'nethost',
      'sh',
      '-c',
      `ls ${b.address} ${b.state}/s; grep @ /proc/net/unix | grep -c berth || true`,
    ]);
    // the host's network namespace lists path sockets by name, but none of berth's is abstract
    // (reachable from a --net-host container); the paths themselves are not in its mounts
    expect(host.stdout.trim().split('\n').at(-1)).toBe('0');
    expect(host.stderr).toMatch(/No such file or directory/);
  });

  it("200 run --rm cycles leave the daemon's fds, live memory, the state dir and the mounts as they were", async () => {
    const fdCount = () => readdirSync(`/proc/${b.pid()}/fd`).length;
    // the one warm shim berthd keeps is a new process (and socket name) after every create
    const stateFiles = () =>
      readdirSync(b.state, { recursive: true })
        .map((f) => String(f).replace(/warm-\d+$/, 'warm-N'))
        .sort();
    // a few cycles first: the code they run is compiled, and caches filled, before the baseline
    for (let i = 0; i < 10; i++) berth(['run', '--rm', image, `warm-${i}`, 'true']);
    // the next warm shim starts at low priority meanwhile, and listens a moment later
    for (let i = 0; i < 50 && !stateFiles().some((f) => f.endsWith('warm-N')); i++) await sleep(100);
    const before = { fds: fdCount(), state: stateFiles(), mounts: mountsUnder(b.dir).length, heap: await b.liveHeap() };
    for (let i = 0; i < 200; i++) {
      const r = berth(['run', '--rm', image, `churn-${i}`, 'true']);
      if (r.code !== 0) throw new Error(`cycle ${i}: ${r.stderr}`);
    }
    // the last shim removes its socket once berthd has taken its last events, after the CLI is done
    for (let i = 0; i < 50 && JSON.stringify(stateFiles()) !== JSON.stringify(before.state); i++) await sleep(100);
    expect(fdCount()).toBeLessThanOrEqual(before.fds + 2);
    expect(stateFiles()).toEqual(before.state);
    expect(mountsUnder(b.dir).length).toBe(before.mounts);
    // a leak of 5 KB a cycle would show here 200 times over; the snapshots' own noise is ~0.1 MiB
    expect((await b.liveHeap()) - before.heap).toBeLessThan(1 << 20);
    expect(readlinkSync(`/proc/${b.pid()}/exe`)).toMatch(/node/);
  }, 600_000);
});
