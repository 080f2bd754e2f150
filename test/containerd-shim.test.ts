// berthd running containers under containerd's own shim (Debian's containerd-shim-runc-v2, ttrpc)
// when its config maps io.containerd.runc.v2 to it: ctr's run, exec, kill and a berthd restart.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Events } from '../api/services.ts';
import { type AnyMessage, unpackAny } from '../core/any.ts';
import { type Berthd, shimConfigArgs, startBerthd } from './support/harness.ts';
import { describeAsRoot, installed } from './support/root.ts';
import { loadRunImage } from './support/run-image.ts';

const shimBinary = '/usr/bin/containerd-shim-runc-v2';
const ns = `shim${process.pid}`;
/** where containerd's runc shim keeps its runc state (its compiled-in default) */
const shimRuncRoot = join('/run/containerd/runc', ns);

const parentOf = (pid: number) => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
const commandOf = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]!;

function taskRow(b: Berthd, id: string): { pid: number; status: string } | undefined {
  const row = b
    .ctr(['-n', ns, 'tasks', 'ls'])
    .stdout.split('\n')
    .map((l) => l.trim().split(/\s+/))
    .find((cols) => cols[0] === id);
  return row ? { pid: Number(row[1]), status: row[2]! } : undefined;
}

async function until(what: string, fn: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describeAsRoot("containerd's own shim as berthd's runtime", [installed(shimBinary), installed('ctr')], () => {
  let b!: Berthd;
  let image = '';

  const configDir = mkdtempSync(join(tmpdir(), 'berth-shim-config-'));

  beforeAll(async () => {
    b = await startBerthd(shimConfigArgs(configDir, shimBinary));
    image = await loadRunImage(b, { ns });
  }, 60_000);

  afterAll(async () => {
    for (const id of ['once', 'detached', 'survivor']) {
      b?.ctr(['-n', ns, 'tasks', 'kill', '-s', '9', id]);
      b?.ctr(['-n', ns, 'tasks', 'rm', '-f', id]);
      b?.ctr(['-n', ns, 'containers', 'rm', id]);
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

  it('ctr run --rm gives the output and the exit code', () => {
    const r = b.ctr(['-n', ns, 'run', '--rm', image, 'once', 'sh', '-c', 'echo hi; exit 3']);
    expect(r.stdout).toBe('hi\n');
    expect(r.code).toBe(3);
    expect(b.ctr(['-n', ns, 'containers', 'ls', '-q']).stdout).not.toMatch(/^once$/m);
  });

  it('ctr run -d: the container is a child of the shim; exec, kill and its exit status', async () => {
    expect(b.ctr(['-n', ns, 'run', '-d', image, 'detached', 'sleep', '1000']).code).toBe(0);
    const task = taskRow(b, 'detached')!;
    expect(task.status).toBe('RUNNING');
    expect(commandOf(parentOf(task.pid))).toBe(shimBinary);
    const exec = b.ctr(['-n', ns, 'tasks', 'exec', '--exec-id', 'e1', 'detached', 'sh', '-c', 'echo from exec; exit 4']);
    expect(exec.stdout).toBe('from exec\n');
    expect(exec.code).toBe(4);
    // the shim forwards its events to berthd's ttrpc events socket, and berthd's subscribers get them
    let subscription: { cancel(): void } | undefined;
    const exitEvent = (async () => {
      for await (const e of b
        .client(ns)
        .service(Events)
        .Subscribe({ filters: ['topic=="/tasks/exit"'] }, { deadline: false, onCall: (c) => (subscription = c) })) {
        const m = unpackAny(e.event as AnyMessage).message as { container_id: string; id: string; exit_status: number };
        if (m.id === 'detached') return m;
      }
    })();
    await new Promise((r) => setTimeout(r, 200));
    expect(b.ctr(['-n', ns, 'tasks', 'kill', '-s', '9', 'detached']).code).toBe(0);
    expect(await exitEvent).toMatchObject({ container_id: 'detached', exit_status: 137 });
    subscription?.cancel();
    await until('the task to stop', () => taskRow(b, 'detached')?.status === 'STOPPED');
    const { process } = await b.client(ns).tasks.Get({ container_id: 'detached' });
    expect(process?.exit_status).toBe(137);
    const rm = b.ctr(['-n', ns, 'tasks', 'rm', 'detached']);
    expect(rm.code, rm.stderr).toBe(0);
    expect(b.ctr(['-n', ns, 'containers', 'rm', 'detached']).code).toBe(0);
  });

  it('a container keeps running through a berthd SIGKILL and is managed again after the restart', async () => {
    expect(b.ctr(['-n', ns, 'run', '-d', image, 'survivor', 'sleep', '1000']).code).toBe(0);
    const before = taskRow(b, 'survivor')!;
    const shim = parentOf(before.pid);
    await b.kill();
    await b.restart();
    expect(taskRow(b, 'survivor')).toEqual({ pid: before.pid, status: 'RUNNING' });
    expect(parentOf(before.pid)).toBe(shim);
    expect(b.ctr(['-n', ns, 'tasks', 'kill', '-s', '9', 'survivor']).code).toBe(0);
    await until('the task to stop', () => taskRow(b, 'survivor')?.status === 'STOPPED');
    expect(b.ctr(['-n', ns, 'tasks', 'rm', 'survivor']).code).toBe(0);
    expect(b.ctr(['-n', ns, 'containers', 'rm', 'survivor']).code).toBe(0);
    await until('the shim to exit', () => !existsSync(`/proc/${shim}`) || readFileSync(`/proc/${shim}/stat`, 'utf8').split(') ')[1]!.startsWith('Z'));
  });
});
