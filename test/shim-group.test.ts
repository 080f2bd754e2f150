import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Berthd, shimConfigArgs, startBerthd } from './support/harness.ts';
import { describeAsRoot, installed } from './support/root.ts';
import { loadRunImage } from './support/run-image.ts';
import { sleep } from './support/util.ts';

const shimBinary = '/usr/bin/containerd-shim-runc-v2';
const ns = `shimgroup${process.pid}`;
/** where containerd's runc shim keeps its runc state (its compiled-in default) */
const shimRuncRoot = join('/run/containerd/runc', ns);

/**
 * `berth run --shim-group NAME` sets the spec annotation io.containerd.runc.v2.group. With
 * io.containerd.runc.v2 mapped to containerd's own shim, the containers of one group are served by
 * one containerd-shim-runc-v2 process, a container without a group by a shim of its own; the
 * group's shim outlives a deleted member and ends with its last one.
 */
describeAsRoot('berth run --shim-group', [installed(shimBinary)], () => {
  let b: Berthd;
  let image: string;
  const configDir = mkdtempSync(join(tmpdir(), 'berth-shimgroup-config-'));
  const berth = (args: string[]) => b.berth(['-n', ns, ...args]);
  const bundle = (id: string) => join(b.state, 'io.containerd.runtime.v2.task', ns, id);

  const address = (id: string) => readFileSync(join(bundle(id), 'address'), 'utf8').trim();
  const taskPid = (id: string) =>
    Number(
      berth(['tasks', 'ls'])
        .stdout.split('\n')
        .find((l) => l.startsWith(`${id} `))!
        .split(/\s+/)[1],
    );
  /**
   * The shim serving a task: the parent of its init (the shim is the subreaper runc's container
   * init is re-parented to), checked to be containerd's shim.
   */
  const shimPid = (id: string): number => {
    const pid = Number(
      readFileSync(`/proc/${taskPid(id)}/stat`, 'utf8')
        .split(') ')[1]!
        .split(' ')[1],
    );
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    expect(args[0], args.join(' ')).toBe(shimBinary);
    return pid;
  };
  const alive = (pid: number) => {
    try {
      return !readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.startsWith('Z');
    } catch {
      return false;
    }
  };

  beforeAll(async () => {
    b = await startBerthd(shimConfigArgs(configDir, shimBinary));
    image = await loadRunImage(b, { ns });
  }, 60_000);
  afterAll(async () => {
    if (b) {
      for (const id of ['g1', 'g2', 'solo']) {
        berth(['tasks', 'rm', '-f', id]);
        berth(['containers', 'rm', id]);
      }
    }
    // whatever a failed test left in the shim's runc root
    if (existsSync(shimRuncRoot)) {
      const list = spawnSync('runc', ['--root', shimRuncRoot, 'list', '-q'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
      for (const id of list) spawnSync('runc', ['--root', shimRuncRoot, 'delete', '--force', id]);
      rmSync(shimRuncRoot, { recursive: true, force: true });
    }
    await b?.cleanup();
    rmSync(configDir, { recursive: true, force: true });
  });

  it('two containers of a group share one containerd shim, one without a group has its own', async () => {
    expect(berth(['run', '-d', '--null-io', '--shim-group', 'pair', image, 'g1', 'sleep', '1000'])).toEqual({ code: 0, stdout: 'g1\n', stderr: '' });
    expect(berth(['run', '-d', '--null-io', '--shim-group', 'pair', image, 'g2', 'sleep', '1000'])).toEqual({ code: 0, stdout: 'g2\n', stderr: '' });
    expect(berth(['run', '-d', '--null-io', image, 'solo', 'sleep', '1000'])).toEqual({ code: 0, stdout: 'solo\n', stderr: '' });
    expect(berth(['tasks', 'ls']).stdout).toMatch(/^TASK\s+PID\s+STATUS\ng1\s+\d+\s+RUNNING\ng2\s+\d+\s+RUNNING\nsolo\s+\d+\s+RUNNING\n$/);

    const info = JSON.parse(berth(['containers', 'info', 'g1']).stdout) as { Spec: { annotations: Record<string, string> } };
    expect(info.Spec.annotations).toEqual({ 'io.containerd.runc.v2.group': 'pair' });
    const group = shimPid('g1');
    expect(shimPid('g2')).toBe(group);
    const solo = shimPid('solo');
    expect(solo).not.toBe(group);

    // and the daemon talks to them on one socket
    expect(address('g2')).toBe(address('g1'));
    expect(address('solo')).not.toBe(address('g1'));

    // one member ends: the other goes on in the same shim
    expect(berth(['tasks', 'kill', '-s', 'KILL', 'g1']).code).toBe(0);
    expect(berth(['tasks', 'wait', 'g1']).stdout).toBe('137\n');
    expect(berth(['tasks', 'rm', 'g1']).code).toBe(0);
    expect(alive(group)).toBe(true);
    expect(berth(['tasks', 'exec', '--exec-id', 'e1', 'g2', 'echo', 'still served'])).toMatchObject({ code: 0, stdout: 'still served\n' });
    expect(shimPid('g2')).toBe(group);

    // the last member gone, the group's shim exits; the solo shim is untouched until its own end
    expect(berth(['tasks', 'rm', '-f', 'g2']).code).toBe(0);
    for (let i = 0; i < 50 && alive(group); i++) await sleep(100);
    expect(alive(group)).toBe(false);
    expect(alive(solo)).toBe(true);
    expect(berth(['tasks', 'rm', '-f', 'solo']).code).toBe(0);
    for (let i = 0; i < 50 && alive(solo); i++) await sleep(100);
    expect(alive(solo)).toBe(false);
    for (const id of ['g1', 'g2', 'solo']) expect(berth(['containers', 'rm', id]).code).toBe(0);
  });

  it('refuses an empty group and one that contradicts --annotation', () => {
    const empty = berth(['run', '--rm', '--shim-group', '', image, 'bad1', 'true']);
    expect(empty).toMatchObject({ code: 1, stderr: 'berth: --shim-group needs a name\n' });
    const clash = berth(['run', '--rm', '--shim-group', 'a', '--annotation', 'io.containerd.runc.v2.group=b', image, 'bad2', 'true']);
    expect(clash.code).toBe(1);
    expect(clash.stderr).toMatch(/^berth: --shim-group a contradicts --annotation io\.containerd\.runc\.v2\.group=b\n$/);
    expect(berth(['containers', 'ls', '-q']).stdout).not.toMatch(/^bad/m);
  });
});
