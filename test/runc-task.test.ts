import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AnyMessage, unpackAny } from '../core/any.ts';
import { grpcEvents, metadata } from './support/grpc-js.ts';
import { type Berthd, berthdWithRunImage } from './support/harness.ts';
import { sleep } from './support/util.ts';

/**
 * What a task run by berthd itself (io.containerd.runc.v2: runc and a berth-monitor per process)
 * does through the Tasks API that the other task tests do not show: the events of a task and of
 * its execs, in order and once each; pause and resume; the processes with their exec ids; metrics
 * as an Any; resource updates reaching the cgroup; signals and their exit codes; a task deleted
 * before it started; a failed create that leaves nothing behind; --shim-group, which does not
 * group on this path.
 */
describe('a task berthd runs through runc', () => {
  let b: Berthd;
  let image: string;
  const ns = 'runctask';
  const berth = (args: string[], input?: string) => b.berth(['-n', ns, ...args], { input });
  const bundleOf = (id: string) => join(b.state, 'io.containerd.runtime.v2.task', ns, id);
  const parentOf = (pid: number) => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
  const commandOf = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]!;
  const mountsUnder = (dir: string) =>
    readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .filter((l) => l.split(' ')[4]?.startsWith(dir));
  type Seen = { topic: string; message: Record<string, unknown> };
  let seen: Seen[] = [];
  let subscription: { cancel(): void } | undefined;
  const of = (id: string) => seen.filter((e) => e.message.container_id === id);

  berthdWithRunImage(ns, (d, img) => {
    b = d;
    image = img;
  });
  beforeAll(async () => {
    const c = b.client(ns);
    const events = grpcEvents(c).Subscribe({ filters: ['topic~="^/tasks/"'] }, metadata(c));
    events.on('data', (e: { topic: string; event: AnyMessage }) =>
      seen.push({ topic: e.topic, message: unpackAny(e.event).message as Record<string, unknown> }),
    );
    events.on('error', () => undefined);
    subscription = events;
    // the subscription is live some time after it is made: run containers until one is seen
    for (let i = 0; i < 20 && !seen.some((e) => e.topic === '/tasks/delete'); i++) {
      expect(berth(['run', '--rm', '--null-io', image, `warm-${i}`, 'true']).code).toBe(0);
      await sleep(100);
    }
    expect(seen.some((e) => e.topic === '/tasks/delete')).toBe(true);
    seen = [];
  }, 60_000);
  afterAll(() => subscription?.cancel());

  async function eventsUntil(id: string, topic: string): Promise<Seen[]> {
    for (let i = 0; i < 50 && !of(id).some((e) => e.topic === topic); i++) await sleep(100);
    return of(id);
  }

  it('publishes create, start, exit and delete once each, in order, with the exit code', async () => {
    expect(berth(['run', '--rm', '--null-io', image, 'order', 'sh', '-c', 'exit 7']).code).toBe(7);
    const events = await eventsUntil('order', '/tasks/delete');
    expect(events.map((e) => e.topic)).toEqual(['/tasks/create', '/tasks/start', '/tasks/exit', '/tasks/delete']);
    expect(events[2]!.message).toMatchObject({ id: 'order', exit_status: 7 });
    expect(events[3]!.message).toMatchObject({ exit_status: 7 });
  });

  it('publishes exec-added, exec-started and the exec exit under the exec id', async () => {
    expect(berth(['run', '-d', '--null-io', image, 'execs', 'sleep', '1000']).code).toBe(0);
    const ex = berth(['tasks', 'exec', '--exec-id', 'short', 'execs', 'sh', '-c', 'exit 5']);
    expect(ex.code).toBe(5);
    const events = await eventsUntil('execs', '/tasks/exit');
    expect(events.map((e) => e.topic)).toEqual(['/tasks/create', '/tasks/start', '/tasks/exec-added', '/tasks/exec-started', '/tasks/exit']);
    expect(events[2]!.message).toMatchObject({ exec_id: 'short' });
    expect(events[3]!.message).toMatchObject({ exec_id: 'short' });
    expect(events[4]!.message).toMatchObject({ id: 'short', exit_status: 5 });
    expect(berth(['tasks', 'rm', '-f', 'execs']).code).toBe(0);
    expect(berth(['containers', 'rm', 'execs']).code).toBe(0);
  });

  it('lists the processes with the exec id of an exec, pauses and resumes with their events, signals give 128+signal', async () => {
    expect(berth(['run', '-d', '--null-io', image, 'ops', 'sleep', '1000']).code).toBe(0);
    const c = b.client(ns);
    const init = (await c.tasks.Get({ container_id: 'ops' })).process!.pid;
    await c.tasks.Exec({
      container_id: 'ops',
      exec_id: 'sleeper',
      stdin: '',
      stdout: '',
      stderr: '',
      terminal: false,
      spec: {
        type_url: 'types.containerd.io/opencontainers/runtime-spec/1/Process',
        value: Buffer.from(JSON.stringify({ args: ['sleep', '1000'], cwd: '/', env: ['PATH=/bin:/usr/bin'], user: { uid: 0, gid: 0 } })),
      },
    });
    const { pid: execPid } = await c.tasks.Start({ container_id: 'ops', exec_id: 'sleeper' });
    const ps = JSON.parse(berth(['tasks', 'ps', '--format', 'json', 'ops']).stdout) as Array<{ pid: number; exec_id: string | null }>;
    expect(ps).toEqual(
      expect.arrayContaining([
        { pid: init, exec_id: null },
        { pid: execPid, exec_id: 'sleeper' },
      ]),
    );
    expect(ps).toHaveLength(2);

    expect(berth(['tasks', 'pause', 'ops']).code).toBe(0);
    expect((await c.tasks.Get({ container_id: 'ops' })).process?.status).toBe('PAUSED');
    expect(berth(['tasks', 'resume', 'ops']).code).toBe(0);
    expect((await c.tasks.Get({ container_id: 'ops' })).process?.status).toBe('RUNNING');
    const events = await eventsUntil('ops', '/tasks/resumed');
    expect(events.map((e) => e.topic)).toEqual([
      '/tasks/create',
      '/tasks/start',
      '/tasks/exec-added',
      '/tasks/exec-started',
      '/tasks/paused',
      '/tasks/resumed',
    ]);

    // the exec is not the pid namespace's init: SIGTERM ends it with 143
    expect(berth(['tasks', 'kill', '--exec-id', 'sleeper', '-s', 'SIGTERM', 'ops']).code).toBe(0);
    expect((await c.tasks.Wait({ container_id: 'ops', exec_id: 'sleeper' })).exit_status).toBe(143);
    await expect(c.tasks.Kill({ container_id: 'ops', exec_id: 'sleeper', signal: 9, all: false })).rejects.toMatchObject({ code: 'NotFound' });
    expect((await c.tasks.DeleteProcess({ container_id: 'ops', exec_id: 'sleeper' })).exit_status).toBe(143);
    expect(berth(['tasks', 'kill', '-s', 'SIGKILL', 'ops']).code).toBe(0);
    expect(berth(['tasks', 'wait', 'ops']).stdout).toBe('137\n');
    // a finished process is not there to signal
    await expect(c.tasks.Kill({ container_id: 'ops', signal: 9, all: false })).rejects.toMatchObject({ code: 'NotFound' });
    expect(berth(['tasks', 'rm', 'ops']).code).toBe(0);
    expect(berth(['containers', 'rm', 'ops']).code).toBe(0);
  });

  it('gives metrics as an Any of the cgroup metrics type, and applies an update to the cgroup', async () => {
    expect(berth(['run', '-d', '--null-io', '--pids-limit', '50', image, 'limits', 'sleep', '1000']).code).toBe(0);
    const c = b.client(ns);
    const { metrics } = await c.tasks.Metrics({ filters: ['id=="limits"'] });
    expect(metrics).toHaveLength(1);
    expect(metrics[0]!.data?.type_url).toMatch(/^io\.containerd\.cgroups\.v[12]\.Metrics$/);
    const stats = unpackAny(metrics[0]!.data as AnyMessage).message as { pids?: { limit?: number } };
    expect(Number(stats.pids?.limit)).toBe(50);

    expect(berth(['tasks', 'update', '--pids-limit', '77', 'limits']).code).toBe(0);
    const after = unpackAny((await c.tasks.Metrics({ filters: ['id=="limits"'] })).metrics[0]!.data as AnyMessage).message as { pids?: { limit?: number } };
    expect(Number(after.pids?.limit)).toBe(77);
    // from the container's side too
    const pidsMax = berth(['tasks', 'exec', '--exec-id', 'read', 'limits', 'cat', '/sys/fs/cgroup/pids/pids.max']);
    if (pidsMax.code === 0) expect(pidsMax.stdout).toBe('77\n');
    expect(berth(['tasks', 'rm', '-f', 'limits']).code).toBe(0);
    expect(berth(['containers', 'rm', 'limits']).code).toBe(0);
  });

  it('deletes a task that was created but never started; its monitor, mounts and bundle go', async () => {
    expect(berth(['containers', 'create', image, 'unstarted', 'sleep', '1000']).code).toBe(0);
    const c = b.client(ns);
    const { container } = await c.containers.Get({ id: 'unstarted' });
    const { mounts } = await c.snapshots.Mounts({ snapshotter: container!.snapshotter, key: container!.snapshot_key });
    const created = await c.tasks.Create({ container_id: 'unstarted', rootfs: mounts, stdin: '', stdout: '', stderr: '', terminal: false });
    const bundle = bundleOf('unstarted');
    expect((await c.tasks.Get({ container_id: 'unstarted' })).process).toMatchObject({ status: 'CREATED', pid: created.pid });
    const monitor = Number(readFileSync(join(bundle, 'monitor.pid'), 'utf8'));
    expect(commandOf(monitor)).toMatch(/berth-monitor$/);
    expect(parentOf(created.pid)).toBe(monitor);
    await c.tasks.Delete({ container_id: 'unstarted' });
    expect(existsSync(bundle)).toBe(false);
    expect(mountsUnder(bundle)).toEqual([]);
    for (let i = 0; i < 50 && existsSync(`/proc/${monitor}`); i++) await sleep(100);
    expect(existsSync(`/proc/${created.pid}`)).toBe(false);
    await expect(c.tasks.Get({ container_id: 'unstarted' })).rejects.toMatchObject({ code: 'NotFound' });
    expect(berth(['containers', 'rm', 'unstarted']).code).toBe(0);
  });

  it("a missing executable fails the start with runc's message and leaves nothing mounted", () => {
    const r = berth(['run', '--rm', '--null-io', image, 'missing', '/no/such/binary']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/no such file or directory/);
    expect(existsSync(bundleOf('missing'))).toBe(false);
    expect(mountsUnder(bundleOf('missing'))).toEqual([]);
    expect(berth(['containers', 'ls', '-q']).stdout).not.toMatch(/^missing$/m);
  });

  it('--shim-group does not group on this path: each container is the child of a monitor of its own', () => {
    for (const id of ['grp1', 'grp2']) expect(berth(['run', '-d', '--null-io', '--shim-group', 'g', image, id, 'sleep', '1000']).code).toBe(0);
    const monitors = ['grp1', 'grp2'].map((id) => parentOf(Number(readFileSync(join(bundleOf(id), 'pid'), 'utf8'))));
    for (const m of monitors) expect(commandOf(m)).toMatch(/berth-monitor$/);
    expect(monitors[0]).not.toBe(monitors[1]);
    for (const id of ['grp1', 'grp2']) {
      expect(berth(['tasks', 'rm', '-f', id]).code).toBe(0);
      expect(berth(['containers', 'rm', id]).code).toBe(0);
    }
  });
});
