import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Berthd, berthBin, berthdWithRunImage } from './support/harness.ts';
import { sleep } from './support/util.ts';

/**
 * containerd's own `ctr` drives berthd through a whole container life: run (attached and
 * detached), exit codes, signals, exec, pause/resume, ps, metrics, delete; and berthd killed
 * with SIGKILL and restarted while containers run or exit.
 */
describe('ctr run against berthd', () => {
  let b: Berthd;
  let image: string;
  const ns = 'ctrrun';
  const ctr = (args: string[], input?: string) => b.ctr(['-n', ns, ...args], { input });
  const ok = (r: { code: number; stdout: string; stderr: string }) => {
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    return r.stdout;
  };
  const taskLine = (id: string) =>
    ok(ctr(['tasks', 'ls']))
      .split('\n')
      .find((l) => l.split(/\s+/)[0] === id);

  berthdWithRunImage(ns, (d, img) => {
    b = d;
    image = img;
  });

  it('runs a command and prints its output', () => {
    const r = ctr(['run', '--rm', image, 'hello', 'echo', 'hello from a container']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('hello from a container\n');
    expect(r.code).toBe(0);
    // --rm removed the container, its snapshot and its bundle
    expect(ok(ctr(['containers', 'ls', '-q']))).toBe('');
    expect(ok(ctr(['snapshots', 'ls']))).not.toMatch(/\bhello\b/);
    expect(existsSync(join(b.state, 'io.containerd.runtime.v2.task', ns, 'hello'))).toBe(false);
  });

  it("exits with the container's exit code", () => {
    expect(ctr(['run', '--rm', image, 'code3', 'sh', '-c', 'exit 3']).code).toBe(3);
    expect(ctr(['run', '--rm', image, 'false', 'false']).code).toBe(1);
  });

  it('passes stdin through and sees the image config', () => {
    const r = ctr(['run', '--rm', image, 'stdin', 'cat'], 'piped in\n');
    expect(r.stdout).toBe('piped in\n');
    const env = ctr(['run', '--rm', '--env', 'FLAG=1', image, 'env', 'env']).stdout.split('\n');
    expect(env).toContain('IMAGE_VAR=from-image');
    expect(env).toContain('FLAG=1');
    // ctr 1.6 has no --user; berth run resolves it from the image's /etc/passwd and /etc/group
    expect(b.berth(['-n', ns, 'run', '--rm', '--user', 'berth', image, 'user', 'id']).stdout).toBe(
      'uid=1000(berth) gid=1000(berth) groups=29(audio),50(staff),1000(berth)\n',
    );
  });

  it('runs detached: ls, ps, kill, exec, pause/resume, metrics, rm', async () => {
    ok(ctr(['run', '-d', image, 'bg', 'sleep', '1000']));
    expect(taskLine('bg')).toMatch(/^bg\s+\d+\s+RUNNING$/);
    const pid = Number(taskLine('bg')!.split(/\s+/)[1]);
    expect(ok(ctr(['tasks', 'ps', 'bg']))).toContain(String(pid));

    const ex = ctr(['tasks', 'exec', '--exec-id', 'e1', 'bg', 'sh', '-c', 'echo from exec; exit 4']);
    expect(ex.stdout).toBe('from exec\n');
    expect(ex.code).toBe(4);

    // an exec is not the namespace's init, so a signal kills it: 128+signal
    expect(ctr(['tasks', 'exec', '--exec-id', 'term', 'bg', 'sh', '-c', 'kill -TERM $$']).code).toBe(143);
    expect(ctr(['tasks', 'exec', '--exec-id', 'kill', 'bg', 'sh', '-c', 'kill -KILL $$']).code).toBe(137);

    ok(ctr(['tasks', 'pause', 'bg']));
    expect(taskLine('bg')).toMatch(/PAUSED$/);
    ok(ctr(['tasks', 'resume', 'bg']));
    expect(taskLine('bg')).toMatch(/RUNNING$/);

    expect(ok(ctr(['tasks', 'metrics', 'bg']))).toMatch(/memory\.usage_in_bytes|memory/);

    ok(ctr(['tasks', 'kill', '-s', 'SIGKILL', 'bg']));
    for (let i = 0; i < 50 && !taskLine('bg')!.endsWith('STOPPED'); i++) await sleep(100);
    expect(taskLine('bg')).toMatch(/STOPPED$/);
    // ctr warns (as with containerd) that the task ended with 137
    expect(ctr(['tasks', 'rm', 'bg'])).toMatchObject({ code: 0, stderr: expect.stringContaining('task bg exit with non-zero exit code 137') });
    ok(ctr(['containers', 'rm', 'bg']));
    expect(ok(ctr(['tasks', 'ls']))).not.toMatch(/\bbg\b/);
  });

  it("cross-client: ctr's containers are berth's and berth's are ctr's", async () => {
    const berth = (args: string[]) => b.berth(['-n', ns, ...args]);
    const berthLine = (id: string) =>
      berth(['tasks', 'ls'])
        .stdout.split('\n')
        .find((l) => l.split(/\s+/)[0] === id);

    try {
      // started by ctr: berth lists it (same pid), execs into it, kills and removes it
      ok(ctr(['run', '-d', image, 'from-ctr', 'sleep', '1000']));
      const ctrPid = taskLine('from-ctr')!.split(/\s+/)[1];
      expect(berthLine('from-ctr')).toMatch(new RegExp(`^from-ctr\\s+${ctrPid}\\s+RUNNING$`));
      expect(berth(['containers', 'ls']).stdout).toMatch(/^from-ctr\s+docker\.io\/library\/busybox:latest\s+io\.containerd\.runc\.v2$/m);
      expect(berth(['tasks', 'exec', '--exec-id', 'bx', 'from-ctr', 'sh', '-c', 'echo berth was here; exit 6'])).toMatchObject({
        code: 6,
        stdout: 'berth was here\n',
      });
      expect(berth(['tasks', 'kill', '-s', 'KILL', 'from-ctr']).code).toBe(0);
      expect(berth(['tasks', 'wait', 'from-ctr']).stdout).toBe('137\n');
      expect(taskLine('from-ctr')).toMatch(new RegExp(`^from-ctr\\s+${ctrPid}\\s+STOPPED$`));
      expect(berth(['tasks', 'rm', 'from-ctr'])).toMatchObject({ code: 0, stdout: 'from-ctr\n' });
      expect(berth(['containers', 'rm', 'from-ctr'])).toMatchObject({ code: 0, stdout: 'from-ctr\n' });
      expect(ok(ctr(['containers', 'ls', '-q']))).toBe('');
      expect(ok(ctr(['snapshots', 'ls']))).not.toMatch(/^from-ctr\s/m);

      // started by berth: ctr lists it (same pid), execs into it, kills and removes it
      expect(berth(['run', '-d', '--null-io', image, 'from-berth', 'sleep', '1000'])).toEqual({ code: 0, stdout: 'from-berth\n', stderr: '' });
      const berthPid = berthLine('from-berth')!.split(/\s+/)[1];
      expect(taskLine('from-berth')).toMatch(new RegExp(`^from-berth\\s+${berthPid}\\s+RUNNING$`));
      expect(ok(ctr(['containers', 'ls']))).toMatch(/^from-berth\s+docker\.io\/library\/busybox:latest\s+io\.containerd\.runc\.v2\s*$/m);
      const ex = ctr(['tasks', 'exec', '--exec-id', 'cx', 'from-berth', 'sh', '-c', 'echo ctr was here; exit 5']);
      expect(ex).toMatchObject({ code: 5, stdout: 'ctr was here\n' });
      ok(ctr(['tasks', 'kill', '-s', 'SIGKILL', 'from-berth']));
      for (let i = 0; i < 50 && !taskLine('from-berth')!.endsWith('STOPPED'); i++) await sleep(100);
      expect(berthLine('from-berth')).toMatch(new RegExp(`^from-berth\\s+${berthPid}\\s+STOPPED$`));
      expect(ctr(['tasks', 'rm', 'from-berth'])).toMatchObject({
        code: 0,
        stderr: expect.stringContaining('task from-berth exit with non-zero exit code 137'),
      });
      ok(ctr(['containers', 'rm', 'from-berth']));
      expect(berth(['containers', 'ls', '-q'])).toMatchObject({ code: 0, stdout: '' });
      expect(berth(['tasks', 'ls', '-q'])).toMatchObject({ code: 0, stdout: '' });
      expect(berth(['snapshots', 'ls']).stdout).not.toMatch(/^from-berth\s/m);
      expect(readdirSync(join(b.state, 'io.containerd.runtime.v2.task', ns))).toEqual([]);
    } finally {
      // a failure must not leave these to the next test
      for (const id of ['from-ctr', 'from-berth']) {
        berth(['tasks', 'rm', '-f', id]);
        berth(['containers', 'rm', id]);
      }
    }
  }, 60_000);

  it('keeps containers running across a daemon SIGKILL and reports exits that happened while it was down', async () => {
    ok(ctr(['run', '-d', image, 'survivor', 'sleep', '1000']));
    ok(ctr(['run', '-d', image, 'quitter', 'sh', '-c', 'sleep 1; exit 7']));
    const before = taskLine('survivor')!;
    await b.kill();
    await sleep(1500);
    await b.restart();
    expect(taskLine('survivor')).toBe(before);
    expect(taskLine('quitter')).toMatch(/STOPPED$/);
    const c = b.client(ns);
    const del = await c.tasks.Delete({ container_id: 'quitter' });
    expect(del.exit_status).toBe(7);
    ok(ctr(['containers', 'rm', 'quitter']));

    const ex = ctr(['tasks', 'exec', '--exec-id', 'after', 'survivor', 'echo', 'still here']);
    expect(ex.stdout).toBe('still here\n');
    ok(ctr(['tasks', 'kill', '-s', 'SIGKILL', 'survivor']));
    const w = await c.tasks.Wait({ container_id: 'survivor' });
    expect(w.exit_status).toBe(137);
    expect(ctr(['tasks', 'rm', 'survivor']).code).toBe(0);
    ok(ctr(['containers', 'rm', 'survivor']));
    expect(readdirSync(join(b.state, 'io.containerd.runtime.v2.task', ns))).toEqual([]);
  }, 60_000);

  it('output keeps flowing to a client that re-attaches after a daemon SIGKILL and restart', async () => {
    const berth = (args: string[]) => b.berth(['-n', ns, ...args]);
    // The first line waits in the FIFO the monitor holds (run -d has gone); the second is written once
    // the test has re-attached, so the test does not depend on how long the restart takes.
    const script = 'sleep 1; echo before the restart; while [ ! -e /tmp/go ]; do sleep 0.1; done; echo after the restart; exit 3';
    // --log-driver none: the output waits in FIFOs for tasks attach (not in a log)
    expect(berth(['run', '-d', '--log-driver', 'none', image, 'talker', 'sh', '-c', script])).toEqual({ code: 0, stdout: 'talker\n', stderr: '' });
    await sleep(1500);
    await b.kill();
    await b.restart();
    const att = spawn(berthBin, ['--address', b.address, '-n', ns, 'tasks', 'attach', 'talker'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    att.stdout.on('data', (d: Buffer) => (stdout += d));
    att.stderr.on('data', (d: Buffer) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => att.on('close', resolve));
    for (let i = 0; i < 300 && !stdout.includes('before the restart'); i++) await sleep(100);
    expect(berth(['tasks', 'exec', '--exec-id', 'go', 'talker', 'touch', '/tmp/go'])).toEqual({ code: 0, stdout: '', stderr: '' });
    expect({ code: await exited, stdout, stderr }).toEqual({ code: 3, stdout: 'before the restart\nafter the restart\n', stderr: '' });
    expect(berth(['tasks', 'rm', 'talker'])).toEqual({ code: 0, stdout: 'talker\n', stderr: '' });
    expect(berth(['containers', 'rm', 'talker']).code).toBe(0);
  }, 60_000);
});
