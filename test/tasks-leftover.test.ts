import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MS_BIND, mount, umount2 } from '../native/index.ts';
import { exitEventsFor } from './support/grpc-js.ts';
import { type Berthd, berthdWithRunImage } from './support/harness.ts';
import { eventually, sleep } from './support/util.ts';

/**
 * What a berthd stopped at the wrong moment leaves in its task bundles, and what the next berthd
 * (or the next create of that id) does with it: a bundle no task owns is cleaned up without
 * removing files across a mount; a task whose monitor runs is found again; one whose monitor and
 * container are both gone is reported exited and cleaned up; a bundle without a container record
 * is not berthd's to touch.
 */
describe('task bundles left behind', () => {
  let b: Berthd;
  let image: string;
  const ns = 'leftover';
  const berth = (args: string[]) => b.berth(['-n', ns, ...args]);
  const bundleOf = (id: string, namespace = ns) => join(b.state, 'io.containerd.runtime.v2.task', namespace, id);
  const pidIn = (dir: string, file: string) => Number(readFileSync(join(dir, file), 'utf8'));
  const alive = (pid: number) => existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  const mountsUnder = (dir: string) =>
    readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .filter((l) => l.split(' ')[4]?.startsWith(dir));
  const outside = mkdtempSync('/tmp/berth-leftover-');
  /** bundles a test moved out of its namespace, put back by the cleanup if the test failed half-way */
  const moved: Array<[from: string, to: string]> = [];

  berthdWithRunImage(ns, (d, img) => {
    b = d;
    image = img;
  });
  afterAll(() => {
    for (const [from, to] of moved) if (existsSync(to)) renameSync(to, from);
    rmSync(outside, { recursive: true, force: true });
  });

  it('is removed by the next create of its id, without touching what was mounted on its rootfs', async () => {
    const bundle = bundleOf('left');
    mkdirSync(join(bundle, 'rootfs'), { recursive: true });
    writeFileSync(join(bundle, 'config.json'), '{}');
    // what a Create stopped before its monitor started leaves: task.json and a mounted rootfs
    const stdio = { stdin: '', stdout: '', stderr: '', terminal: false };
    writeFileSync(
      join(bundle, 'task.json'),
      JSON.stringify({ runtime: 'io.containerd.runc.v2', options: {}, cgroupsPath: '', ownPidNamespace: true, rootfsMounted: true, stdio }),
    );
    writeFileSync(join(outside, 'keep'), "not the container's");
    mount(outside, join(bundle, 'rootfs'), null, MS_BIND);
    try {
      expect(mountsUnder(bundle)).toHaveLength(1);
      const r = berth(['run', '--rm', image, 'left', 'echo', 'hello']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toBe('hello\n');
    } finally {
      try {
        umount2(join(bundle, 'rootfs'));
      } catch {
        // unmounted by the cleanup, as it should be
      }
    }
    expect(readFileSync(join(outside, 'keep'), 'utf8')).toBe("not the container's");
    // berthd removes the --rm container once its process exited, not before berth returns
    expect(
      await eventually(
        () => existsSync(bundle),
        (e) => !e,
      ),
    ).toBe(false);
    expect(mountsUnder(bundle)).toEqual([]);
    expect(
      await eventually(
        () => berth(['containers', 'ls', '-q']).stdout,
        (s) => s === '',
      ),
    ).toBe('');
  }, 60_000);

  it('berthd SIGKILLed after the monitor started but before the create returned: the task is found again and managed', async () => {
    // a runc that, once, SIGKILLs berthd right after `runc create` succeeded: the monitor is
    // running and the container created, and berthd never answered the create
    const mark = join(outside, 'kill-berthd');
    const runtime = join(outside, 'runc-then-kill');
    writeFileSync(
      runtime,
      `#!/bin/sh\nrunc "$@"; rc=$?\nfor a in "$@"; do if [ "$a" = create ] && [ -f ${mark} ]; then kill -9 "$(cat ${mark})"; rm -f ${mark}; fi; done\nexit $rc\n`,
    );
    chmodSync(runtime, 0o755);
    writeFileSync(mark, String(b.pid()));
    // ctr's run (Tasks.Create, then Start): berth run's container is started by its monitor right
    // after the create, so it would be running, not created, when berthd comes back
    const r = b.ctr(['-n', ns, 'run', '-d', '--null-io', '--runc-binary', runtime, image, 'midcreate', 'sleep', '1000']);
    expect(r.code).not.toBe(0);
    expect(existsSync(mark)).toBe(false);
    await b.kill();
    const bundle = bundleOf('midcreate');
    const monitor = pidIn(bundle, 'monitor.pid');
    const init = pidIn(bundle, 'pid');
    expect(alive(monitor)).toBe(true);
    expect(alive(init)).toBe(true);
    await b.restart();
    const c = b.client(ns);
    expect((await c.tasks.Get({ container_id: 'midcreate' })).process).toMatchObject({ status: 'CREATED', pid: init });
    await c.tasks.Start({ container_id: 'midcreate' });
    expect((await c.tasks.Get({ container_id: 'midcreate' })).process).toMatchObject({ status: 'RUNNING', pid: init });
    expect(berth(['tasks', 'kill', '-s', 'SIGKILL', 'midcreate']).code).toBe(0);
    expect(berth(['tasks', 'wait', 'midcreate']).stdout).toBe('137\n');
    expect(berth(['tasks', 'rm', 'midcreate']).code).toBe(0);
    expect(berth(['containers', 'rm', 'midcreate']).code).toBe(0);
    expect(existsSync(bundle)).toBe(false);
    expect(mountsUnder(bundle)).toEqual([]);
    for (let i = 0; i < 50 && alive(monitor); i++) await sleep(100);
    expect(alive(monitor)).toBe(false);
  }, 60_000);

  it('a bundle whose monitor and container are both gone is cleaned up at restart, its task reported exited', async () => {
    expect(berth(['run', '-d', '--null-io', image, 'gone', 'sleep', '1000']).code).toBe(0);
    const bundle = bundleOf('gone');
    const monitor = pidIn(bundle, 'monitor.pid');
    const init = pidIn(bundle, 'pid');
    await b.kill();
    process.kill(monitor, 'SIGKILL');
    process.kill(init, 'SIGKILL');
    for (let i = 0; i < 100 && (alive(monitor) || alive(init)); i++) await sleep(20);
    expect(alive(monitor)).toBe(false);
    expect(alive(init)).toBe(false);
    expect(mountsUnder(bundle)).toHaveLength(1);
    await b.restart();
    // reported before berthd served, so a subscriber that comes a moment later still gets it
    await sleep(1000);
    const exits = await exitEventsFor(b.client(ns), 1500);
    const reported = exits.filter((e) => e.container_id === 'gone');
    expect(reported).toHaveLength(1);
    expect([137, 255]).toContain(reported[0]!.exit_status);
    for (let i = 0; i < 50 && existsSync(bundle); i++) await sleep(100);
    expect(existsSync(bundle)).toBe(false);
    expect(mountsUnder(bundle)).toEqual([]);
    await expect(b.client(ns).tasks.Get({ container_id: 'gone' })).rejects.toMatchObject({ code: 'NotFound' });
    // the container record stays until removed
    expect(berth(['containers', 'rm', 'gone']).code).toBe(0);
  }, 60_000);

  it('a bundle that has no container record is left alone at restart, with a warning', async () => {
    expect(berth(['run', '-d', '--null-io', image, 'stranger', 'sleep', '1000']).code).toBe(0);
    const bundle = bundleOf('stranger');
    const monitor = pidIn(bundle, 'monitor.pid');
    const init = pidIn(bundle, 'pid');
    await b.kill();
    // the same bundle under a namespace that has no record of it (another daemon's, or a wrong root)
    const elsewhere = bundleOf('stranger', 'norecord');
    mkdirSync(join(elsewhere, '..'), { recursive: true });
    renameSync(bundle, elsewhere);
    moved.push([bundle, elsewhere]);
    await b.restart();
    expect(b.output()).toContain('leaving alone a task bundle that has no container record');
    expect(existsSync(join(elsewhere, 'task.json'))).toBe(true);
    expect(alive(monitor)).toBe(true);
    expect(alive(init)).toBe(true);
    expect(b.berth(['-n', 'norecord', 'tasks', 'ls']).stdout).not.toContain('stranger');
    // put back where its record is, it is berthd's again
    await b.kill();
    renameSync(elsewhere, bundle);
    moved.pop();
    rmSync(join(elsewhere, '..'), { recursive: true, force: true });
    await b.restart();
    expect(berth(['tasks', 'ls']).stdout).toMatch(new RegExp(`^stranger\\s+${init}\\s+RUNNING$`, 'm'));
    expect(berth(['tasks', 'kill', '-s', 'SIGKILL', 'stranger']).code).toBe(0);
    expect(berth(['tasks', 'wait', 'stranger']).stdout).toBe('137\n');
    expect(berth(['tasks', 'rm', 'stranger']).code).toBe(0);
    expect(berth(['containers', 'rm', 'stranger']).code).toBe(0);
    expect(existsSync(bundle)).toBe(false);
  }, 60_000);
});
