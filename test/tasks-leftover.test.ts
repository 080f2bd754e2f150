import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MS_BIND, mount, umount2 } from '../native/index.ts';
import { type Berthd, berthdWithRunImage, berthShimArgs, repo } from './support/harness.ts';
import { sleep } from './support/util.ts';

/**
 * A task bundle that no task owns — what a berthd killed in the middle of Tasks.Create leaves —
 * must not block the next create of that id: berthd cleans it up (unmounting its rootfs first,
 * never removing files across a mount) and creates the task.
 */
describe('a task bundle left behind', () => {
  let b: Berthd;
  let image: string;
  const ns = 'leftover';
  const berth = (args: string[]) => b.berth(['-n', ns, ...args]);
  const mountsUnder = (dir: string) =>
    readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .filter((l) => l.split(' ')[4]?.startsWith(dir));
  const outside = mkdtempSync('/tmp/berth-leftover-');

  // berth's own Node shim, not berthd's runc driver
  berthdWithRunImage(
    ns,
    (d, img) => {
      b = d;
      image = img;
    },
    { args: berthShimArgs() },
  );
  afterAll(() => rmSync(outside, { recursive: true, force: true }));

  it('is removed by the next create of its id, without touching what was mounted on its rootfs', () => {
    const bundle = join(b.state, 'io.containerd.runtime.v2.task', ns, 'left');
    mkdirSync(join(bundle, 'rootfs'), { recursive: true });
    writeFileSync(join(bundle, 'config.json'), '{}');
    // what a crashed Create leaves: the shim's address (nobody listens there any more) and a mounted rootfs
    writeFileSync(join(bundle, 'bootstrap.json'), JSON.stringify({ version: 2, address: `unix://${join(outside, 'gone.sock')}`, protocol: 'grpc' }));
    writeFileSync(join(bundle, 'shim-binary-path'), join(repo, 'bin', 'berth-shim-runc-v2'));
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
    expect(mountsUnder(bundle)).toEqual([]);
    expect(existsSync(bundle)).toBe(false);
    expect(berth(['containers', 'ls', '-q']).stdout).toBe('');
  }, 60_000);

  it('a shim still serving a bundle that has no bootstrap.json (berthd died mid-Create) is reconnected at restart', async () => {
    expect(berth(['run', '-d', '--null-io', image, 'stray', 'sleep', '1000']).code).toBe(0);
    const bundle = join(b.state, 'io.containerd.runtime.v2.task', ns, 'stray');
    const alive = (pid: number) => existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
    const init = Number(readFileSync(join(bundle, 'init.pid'), 'utf8'));
    // the container's init is the shim's child (the shim is its subreaper and runc has exited)
    const shim = Number(readFileSync(`/proc/${init}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
    expect(alive(init)).toBe(true);
    expect(alive(shim)).toBe(true);
    await b.kill();
    // the window: the shim has written its address into the bundle, berthd not yet bootstrap.json
    rmSync(join(bundle, 'bootstrap.json'));
    expect(existsSync(join(bundle, 'address'))).toBe(true);
    await b.restart();
    // start-up cleanup never kills a container that runs: berthd finds the shim through its address
    expect(berth(['tasks', 'ls']).stdout).toMatch(new RegExp(`^stray\\s+${init}\\s+RUNNING$`, 'm'));
    expect(alive(init)).toBe(true);
    expect(alive(shim)).toBe(true);
    expect(existsSync(join(bundle, 'bootstrap.json'))).toBe(true);
    expect(berth(['tasks', 'kill', '-s', 'SIGKILL', 'stray']).code).toBe(0);
    expect(berth(['tasks', 'wait', 'stray']).stdout).toBe('137\n');
    expect(berth(['tasks', 'rm', 'stray']).code).toBe(0);
    for (let i = 0; i < 100 && alive(shim); i++) await sleep(50);
    expect(alive(shim)).toBe(false);
    expect(existsSync(bundle)).toBe(false);
    expect(mountsUnder(bundle)).toEqual([]);
    expect(berth(['containers', 'rm', 'stray']).code).toBe(0);
  }, 60_000);

  it('a container that outlived its shim is left running at restart, its bundle kept', async () => {
    expect(berth(['run', '-d', '--null-io', image, 'orphan', 'sleep', '1000']).code).toBe(0);
    const bundle = join(b.state, 'io.containerd.runtime.v2.task', ns, 'orphan');
    const alive = (pid: number) => existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
    const init = Number(readFileSync(join(bundle, 'init.pid'), 'utf8'));
    const shim = Number(readFileSync(`/proc/${init}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
    await b.kill();
    process.kill(shim, 'SIGKILL');
    for (let i = 0; i < 100 && alive(shim); i++) await sleep(20);
    expect(alive(shim)).toBe(false);
    expect(alive(init)).toBe(true);
    await b.restart();
    expect(alive(init)).toBe(true);
    expect(existsSync(join(bundle, 'config.json'))).toBe(true);
    expect(b.output()).toContain('leaving alone a task bundle whose container process outlived its shim');
    // the next create of that id is what removes it (and the container with it)
    const r = berth(['tasks', 'start', '-d', '--null-io', 'orphan']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    for (let i = 0; i < 100 && alive(init); i++) await sleep(50);
    expect(alive(init)).toBe(false);
    expect(berth(['tasks', 'kill', '-s', 'SIGKILL', 'orphan']).code).toBe(0);
    expect(berth(['tasks', 'wait', 'orphan']).stdout).toBe('137\n');
    expect(berth(['tasks', 'rm', 'orphan']).code).toBe(0);
    expect(berth(['containers', 'rm', 'orphan']).code).toBe(0);
    expect(existsSync(bundle)).toBe(false);
  }, 60_000);

  it('a bundle whose shim answers but never got its container (berthd died before Create reached it) is removed at restart; the shim stays for its other task', async () => {
    expect(berth(['run', '-d', '--null-io', image, 'keeper', 'sleep', '1000']).code).toBe(0);
    expect(berth(['containers', 'create', image, 'ghost', 'true']).code).toBe(0);
    const alive = (pid: number) => existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
    const keeper = join(b.state, 'io.containerd.runtime.v2.task', ns, 'keeper');
    const init = Number(readFileSync(join(keeper, 'init.pid'), 'utf8'));
    await b.kill();
    // what an adopted shim leaves when berthd dies between the adoption and Create: its address
    const ghost = join(b.state, 'io.containerd.runtime.v2.task', ns, 'ghost');
    mkdirSync(join(ghost, 'rootfs'), { recursive: true });
    writeFileSync(join(ghost, 'config.json'), '{}');
    writeFileSync(join(ghost, 'address'), readFileSync(join(keeper, 'address')));
    await b.restart();
    expect(existsSync(ghost)).toBe(false);
    expect(berth(['tasks', 'ls']).stdout).toMatch(new RegExp(`^keeper\\s+${init}\\s+RUNNING\n$`, 'm'));
    expect(berth(['tasks', 'ls']).stdout).not.toContain('ghost');
    expect(alive(init)).toBe(true);
    expect(berth(['tasks', 'kill', '-s', 'SIGKILL', 'keeper']).code).toBe(0);
    expect(berth(['tasks', 'wait', 'keeper']).stdout).toBe('137\n');
    expect(berth(['tasks', 'rm', 'keeper']).code).toBe(0);
    expect(berth(['containers', 'rm', 'keeper', 'ghost']).code).toBe(0);
  }, 60_000);
});
