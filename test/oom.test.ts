import { type ChildProcess, spawn } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Berthd, berthBin, startBerthd } from './support/harness.ts';
import { describeAsRoot } from './support/root.ts';
import { loadRunImage } from './support/run-image.ts';
import { eventually, sleep } from './support/util.ts';

/**
 * A container that outgrows `berth run --memory-limit`: the kernel's OOM killer ends it, berth
 * run exits with 137 as the container did, and `berth events` shows one /tasks/oom for it
 * (and its /tasks/exit with 137), while a container under its limit gets no /tasks/oom.
 */
describeAsRoot('OOM through berth run', () => {
  let b: Berthd;
  let image: string;
  const ns = 'oom';
  const berth = (args: string[]) => b.berth(['-n', ns, ...args]);
  let events: ChildProcess | undefined;
  let stream = '';
  type Event = { namespace: string; topic: string; type: string; event: { container_id?: string; exit_status?: number } };
  const seen = () =>
    stream
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Event);
  const of = (id: string) =>
    seen()
      .filter((e) => e.event?.container_id === id)
      .map((e) => e.topic);

  beforeAll(async () => {
    b = await startBerthd();
    image = await loadRunImage(b, { ns });
    events = spawn(berthBin, ['--address', b.address, 'events', '--format', 'json', 'topic~="^/tasks/"'], { stdio: ['ignore', 'pipe', 'inherit'] });
    events.stdout!.on('data', (d) => (stream += d));
    // the subscription is live some time after the process starts: run containers until one is seen
    for (let i = 0; i < 20 && !stream.includes('/tasks/exit'); i++) {
      expect(berth(['run', '--rm', '--null-io', image, `warm-${i}`, 'true']).code).toBe(0);
      await sleep(100);
    }
    expect(stream).toContain('/tasks/exit');
  }, 60_000);
  afterAll(async () => {
    if (events && events.exitCode === null) {
      const exited = new Promise((r) => events!.once('exit', r));
      events.kill('SIGINT');
      await exited;
    }
    await b?.cleanup();
  });

  it('a container past its memory limit is OOM-killed: exit 137 and a /tasks/oom event', async () => {
    // busybox tail keeps the current line: /dev/zero has no newline, so it grows until killed
    const r = berth(['run', '--rm', '--memory-limit', String(16 * 1024 * 1024), image, 'hog', 'sh', '-c', 'echo start; exec tail /dev/zero']);
    expect(r.stdout).toBe('start\n');
    expect(r.stderr).toBe("berth: container hog was killed by the kernel's OOM killer (out of memory)\n");
    expect(r.code).toBe(137);
    for (let i = 0; i < 50 && !of('hog').includes('/tasks/delete'); i++) await sleep(100);
    // exactly one of each, the OOM reported before the exit it caused
    expect(of('hog')).toEqual(['/tasks/create', '/tasks/start', '/tasks/oom', '/tasks/exit', '/tasks/delete']);
    const oom = seen().find((e) => e.topic === '/tasks/oom')!;
    expect(oom).toMatchObject({ namespace: ns, type: 'containerd.events.TaskOOM', event: { container_id: 'hog' } });
    expect(seen().find((e) => e.topic === '/tasks/exit' && e.event.container_id === 'hog')!.event.exit_status).toBe(137);
    // --rm removed it all the same (berthd does, after the exit)
    expect(
      await eventually(
        () => berth(['c', 'ls', '-q']).stdout,
        (s) => s === '',
      ),
    ).toBe('');
  });

  it('an OOM kill of a child is reported too, and the container goes on', async () => {
    const r = berth(['run', '--rm', '--memory-limit', String(16 * 1024 * 1024), image, 'child', 'sh', '-c', 'tail /dev/zero; echo "tail: $?"; exit 5']);
    expect(r).toMatchObject({ code: 5, stdout: 'tail: 137\n' });
    for (let i = 0; i < 50 && !of('child').includes('/tasks/delete'); i++) await sleep(100);
    expect(of('child')).toEqual(['/tasks/create', '/tasks/start', '/tasks/oom', '/tasks/exit', '/tasks/delete']);
    expect(seen().find((e) => e.topic === '/tasks/exit' && e.event.container_id === 'child')!.event.exit_status).toBe(5);
  });

  it('a container within its limit: no /tasks/oom, its own exit code', async () => {
    const r = berth(['run', '--rm', '--memory-limit', String(64 * 1024 * 1024), image, 'fits', 'sh', '-c', 'head -c 1000000 /dev/zero | wc -c; exit 3']);
    expect(r).toMatchObject({ code: 3, stdout: '1000000\n' });
    for (let i = 0; i < 50 && !of('fits').includes('/tasks/delete'); i++) await sleep(100);
    expect(of('fits')).toEqual(['/tasks/create', '/tasks/start', '/tasks/exit', '/tasks/delete']);
  });

  it('inspect shows OOMKilled for a container the OOM killer ended, and only for its last run', async () => {
    const limit = String(16 * 1024 * 1024);
    expect(
      berth(['run', '-d', '--null-io', '--memory-limit', limit, image, 'hog2', 'sh', '-c', '[ -e /ran ] && exit 0; touch /ran; exec tail /dev/zero']).code,
    ).toBe(0);
    expect(berth(['run', '-d', '--null-io', '--memory-limit', limit, image, 'calm', 'sh', '-c', 'exit 137']).code).toBe(0);
    expect(berth(['wait', 'hog2', 'calm'])).toMatchObject({ code: 137, stdout: '137\n137\n' });
    const state = (id: string) => (JSON.parse(berth(['inspect', id]).stdout) as Array<{ State: { ExitCode: number; OOMKilled: boolean } }>)[0]!.State;
    expect(state('hog2')).toMatchObject({ ExitCode: 137, OOMKilled: true });
    expect(state('calm')).toMatchObject({ ExitCode: 137, OOMKilled: false });
    // started again (this time it exits at once), the container's new run was not OOM-killed
    expect(berth(['tasks', 'rm', 'hog2']).code).toBe(0);
    expect(berth(['tasks', 'start', '-d', 'hog2']).code).toBe(0);
    expect(berth(['wait', 'hog2'])).toMatchObject({ code: 0, stdout: '0\n' });
    expect(state('hog2')).toMatchObject({ ExitCode: 0, OOMKilled: false });
    expect(berth(['rm', '-f', 'hog2', 'calm']).code).toBe(0);
  });
});
