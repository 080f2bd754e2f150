// berth-shim-runc-v2 against the real runc: start, the Task API, stdio through FIFOs, exit codes,
// events with acknowledgement, reaping, and the delete subcommand. Each container is a busybox
// rootfs bind-mounted read-only by the shim; everything is removed afterwards, even on failure.
import { spawnSync } from 'node:child_process';
import {
  constants as C,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { Socket } from 'node:net';
import { join, resolve } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { codec } from '../api/codec.ts';
import type { EventsClient } from '../api/gen/berth/shim/v1/Events.ts';
import type { ShimEvent__Output } from '../api/gen/berth/shim/v1/ShimEvent.ts';
import type { TaskV2 } from '../api/services.ts';
import { type AnyMessage, unpackAny } from '../core/any.ts';
import type { Client } from '../transport/typed.ts';
import { channelOptions, loadProtoDir, lookup } from './support/grpc-js.ts';

const repo = resolve(import.meta.dirname, '..');
const shimBin = join(repo, 'bin', 'berth-shim-runc-v2');
const ns = 'shimtest';
const daemonAddress = '/run/berth-shimtest/berth.sock';
const applets = ['sh', 'echo', 'sleep', 'cat', 'true', 'false', 'id', 'ps', 'kill', 'tail', 'stty'];

if (!existsSync(join(repo, 'dist', 'shim', 'main.js'))) throw new Error('dist/ is missing: run `npm run build` first');

let work: string;
let image: string;

beforeAll(() => {
  // short: the shim's socket path must fit in sun_path
  work = mkdtempSync('/tmp/bshim-');
  image = join(work, 'image');
  for (const d of ['bin', 'proc', 'dev', 'sys', 'tmp', 'etc']) mkdirSync(join(image, d), { recursive: true });
  copyFileSync('/bin/busybox', join(image, 'bin', 'busybox'));
  for (const a of applets) symlinkSync('busybox', join(image, 'bin', a));
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

type TaskClient = Client<typeof TaskV2>;
type Callback = (err: Error | null, out: unknown) => void;

function promisify(client: grpc.Client, method: string): (req: object) => Promise<unknown> {
  const fn = (client as unknown as Record<string, (req: object, o: grpc.CallOptions, cb: Callback) => void>)[method]!.bind(client);
  return (req) => new Promise((res, rej) => fn(req, { deadline: Date.now() + 30_000 }, (err, out) => (err ? rej(err) : res(out))));
}

const taskMethods = [
  'State',
  'Create',
  'Start',
  'Delete',
  'Pids',
  'Pause',
  'Resume',
  'Checkpoint',
  'Kill',
  'Exec',
  'ResizePty',
  'CloseIO',
  'Update',
  'Wait',
  'Stats',
  'Connect',
  'Shutdown',
];

interface Shim {
  address: string;
  path: string;
  task: TaskClient;
  events: EventsClient;
  ack(req: { seq: number }): Promise<unknown>;
  pid: number;
  close(): void;
}

function connectShim(address: string): Shim {
  const Task = lookup<grpc.ServiceClientConstructor>(loadProtoDir('containerd/runtime/task/v2'), 'containerd.task.v2.Task');
  const Events = lookup<grpc.ServiceClientConstructor>(loadProtoDir('berth/shim/v1'), 'berth.shim.v1.Events');
  const raw = new Task(address, grpc.credentials.createInsecure(), channelOptions);
  const events = new Events(address, grpc.credentials.createInsecure(), channelOptions) as unknown as EventsClient;
  const task = Object.fromEntries(taskMethods.map((m) => [m, promisify(raw, m)])) as unknown as TaskClient;
  const ack = promisify(events, 'Ack');
  return {
    ack,
    address,
    path: address.slice('unix://'.length),
    task,
    events,
    pid: 0,
    close() {
      raw.close();
      events.close();
    },
  };
}

interface Bundle {
  id: string;
  state: string;
  bundle: string;
}

interface SpecOptions {
  args: string[];
  annotations?: Record<string, string>;
  sharedPid?: boolean;
  terminal?: boolean;
  memoryLimit?: number;
}

function ociSpec(id: string, o: SpecOptions): object {
  return {
    ociVersion: '1.0.2-dev',
    process: {
      terminal: o.terminal ?? false,
      user: { uid: 0, gid: 0 },
      args: o.args,
      env: ['PATH=/bin'],
      cwd: '/',
      capabilities: {
        bounding: ['CAP_KILL', 'CAP_SETUID', 'CAP_SETGID'],
        effective: ['CAP_KILL', 'CAP_SETUID', 'CAP_SETGID'],
        permitted: ['CAP_KILL', 'CAP_SETUID', 'CAP_SETGID'],
      },
      noNewPrivileges: true,
    },
    root: { path: 'rootfs' },
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    ],
    annotations: o.annotations ?? {},
    linux: {
      cgroupsPath: `/${ns}/${id}`,
      namespaces: [...(o.sharedPid ? [] : [{ type: 'pid' }]), { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'network' }],
      resources: {
        devices: [{ allow: false, access: 'rwm' }],
        ...(o.memoryLimit ? { memory: { limit: o.memoryLimit, swap: o.memoryLimit } } : {}),
      },
      maskedPaths: ['/proc/kcore'],
      readonlyPaths: ['/proc/sys'],
    },
  };
}

const made: Bundle[] = [];
const shims: Shim[] = [];
let serial = 0;

function makeBundle(o: SpecOptions, state?: string): Bundle {
  const id = `c${process.pid}x${++serial}`;
  state ??= mkdtempSync(join(work, 's'));
  const bundle = join(state, 'io.containerd.runtime.v2.task', ns, id);
  mkdirSync(join(bundle, 'rootfs'), { recursive: true, mode: 0o700 });
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(ociSpec(id, o)));
  const b = { id, state, bundle };
  made.push(b);
  return b;
}

function runShim(b: Bundle, action: string[], input: Buffer = Buffer.alloc(0), extra: string[] = [], extraFds: number[] = []) {
  const r = spawnSync(shimBin, ['-namespace', ns, '-address', daemonAddress, '-publish-binary', '/bin/true', '-id', b.id, ...extra, ...action], {
    cwd: b.bundle,
    input,
    stdio: ['pipe', 'pipe', 'pipe', 'ignore', ...extraFds],
    env: { ...process.env, BERTH_STATE: b.state },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

async function startShim(b: Bundle): Promise<Shim> {
  const r = runShim(b, ['start']);
  if (r.code !== 0) throw new Error(`start failed (${r.code}): ${r.stderr}`);
  const boot = JSON.parse(r.stdout.toString()) as { version: number; address: string; protocol: string };
  expect(boot.version).toBe(2);
  expect(boot.protocol).toBe('grpc');
  const shim = connectShim(boot.address);
  shim.pid = (await shim.task.Connect({ id: b.id })).shim_pid;
  shims.push(shim);
  return shim;
}

const rootfsMounts = () => [{ type: 'bind', source: image, options: ['rbind', 'ro'] }];

function mkfifo(path: string): void {
  const r = spawnSync('mkfifo', ['-m', '600', path]);
  if (r.status !== 0) throw new Error(`mkfifo ${path}: ${r.stderr}`);
}

/** Makes a FIFO and reads it to the end (the shim closing its side), like a client does. */
function readFifo(path: string): { text: () => string; done: Promise<string> } {
  mkfifo(path);
  const fd = openSync(path, C.O_RDONLY | C.O_NONBLOCK);
  const sock = new Socket({ fd, readable: true, writable: false });
  let text = '';
  sock.setEncoding('utf8');
  sock.on('data', (d: string) => (text += d));
  const done = new Promise<string>((res) => sock.once('end', () => res(text)));
  return { text: () => text, done };
}

/** The stdin FIFO, write side held open (non-blocking) by the test. */
function stdinFifo(path: string): Socket {
  mkfifo(path);
  // O_RDWR: opening for writing must not wait for the shim to open the read side
  const fd = openSync(path, C.O_RDWR | C.O_NONBLOCK);
  return new Socket({ fd, readable: false, writable: true });
}

function decodeEvent(ev: { topic: string; event: AnyMessage }) {
  return { topic: ev.topic, ...unpackAny(ev.event).message } as Record<string, unknown> & { topic: string };
}

type SeenEvent = ReturnType<typeof decodeEvent> & { seq: number };

function collectEvents(shim: Shim): { events: SeenEvent[]; cancel(): void; until(pred: (e: SeenEvent[]) => boolean): Promise<void> } {
  const events: SeenEvent[] = [];
  const stream = shim.events.Subscribe({});
  const waiters: (() => void)[] = [];
  stream.on('data', (e: ShimEvent__Output) => {
    events.push({ seq: Number(e.seq), ...decodeEvent({ topic: e.topic, event: e.event as AnyMessage }) });
    for (const w of waiters.splice(0)) w();
  });
  stream.on('error', () => undefined);
  return {
    events,
    cancel: () => stream.cancel(),
    async until(pred) {
      const deadline = Date.now() + 15_000;
      while (!pred(events)) {
        if (Date.now() > deadline) throw new Error(`events so far: ${JSON.stringify(events.map((e) => e.topic))}`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 200);
        });
      }
    },
  };
}

function cgroupDirs(sub: string): string[] {
  const out: string[] = [];
  for (const c of readdirSync('/sys/fs/cgroup')) {
    const d = join('/sys/fs/cgroup', c, sub);
    if (existsSync(d)) out.push(d);
  }
  if (existsSync(join('/sys/fs/cgroup', sub))) out.push(join('/sys/fs/cgroup', sub));
  return out;
}

function zombieChildren(pid: number): string[] {
  const out: string[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(rest[1]) === pid && rest[0] === 'Z') out.push(p);
    } catch {
      // gone
    }
  }
  return out;
}

afterEach(async () => {
  for (const shim of shims.splice(0)) {
    await shim.task.Shutdown({ id: '', now: true }).catch(() => undefined);
    shim.close();
    if (shim.pid) {
      for (let i = 0; i < 50; i++) {
        try {
          process.kill(shim.pid, 0);
        } catch {
          break;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      try {
        process.kill(shim.pid, 'SIGKILL');
      } catch {
        // exited
      }
    }
  }
  for (const b of made.splice(0)) {
    spawnSync('runc', ['--root', join(b.state, 'runc', ns), 'delete', '--force', b.id]);
    const rootfs = join(b.bundle, 'rootfs');
    for (let i = 0; i < 5 && spawnSync('mountpoint', ['-q', rootfs]).status === 0; i++) spawnSync('umount', ['-l', rootfs]);
    for (const d of cgroupDirs(join(ns, b.id))) {
      try {
        rmdirSync(d);
      } catch {
        // busy or gone
      }
    }
    rmSync(b.state, { recursive: true, force: true });
  }
  for (const d of cgroupDirs(ns)) {
    try {
      rmdirSync(d);
    } catch {
      // another container's cgroup is still there
    }
  }
});

/** Creates and starts a container with stdout/stderr FIFOs; returns the shim and the outputs. */
async function run(args: string[], o: Partial<SpecOptions> = {}) {
  const b = makeBundle({ args, ...o });
  const shim = await startShim(b);
  const fifoDir = mkdtempSync(join(work, 'f'));
  const stdout = readFifo(join(fifoDir, 'out'));
  const stderr = readFifo(join(fifoDir, 'err'));
  const created = await shim.task.Create({ id: b.id, bundle: b.bundle, rootfs: rootfsMounts(), stdout: join(fifoDir, 'out'), stderr: join(fifoDir, 'err') });
  return { b, shim, stdout, stderr, created, fifoDir };
}

describe('berth-shim-runc-v2', () => {
  it('start prints the bootstrap JSON, listens on a 0600 filesystem socket, and writes the address file', async () => {
    const b = makeBundle({ args: ['true'] });
    // a careless daemon leaks a descriptor (fd 4) into start: the shim must not keep it
    const leak = openSync(join(b.state, 'leaked'), C.O_CREAT | C.O_WRONLY, 0o600);
    const r = runShim(b, ['start'], Buffer.alloc(0), [], [leak]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.toString().trim().split('\n');
    expect(lines).toHaveLength(1);
    const boot = JSON.parse(lines[0]!);
    expect(Object.keys(boot).sort()).toEqual(['address', 'protocol', 'version']);
    expect(boot.address).toMatch(new RegExp(`^unix://${b.state}/s/[0-9a-f]{64}$`));
    const path = boot.address.slice(7);
    const st = lstatSync(path);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
    expect(lstatSync(join(b.state, 's')).mode & 0o777).toBe(0o700);
    // a filesystem socket, not an abstract one (those show up in /proc/net/unix with a leading @)
    expect(readFileSync('/proc/net/unix', 'utf8')).toContain(path);
    expect(readFileSync(join(b.bundle, 'address'), 'utf8')).toBe(boot.address);
    const shim = connectShim(boot.address);
    shims.push(shim);
    const conn = await shim.task.Connect({ id: b.id });
    shim.pid = conn.shim_pid;
    expect(conn.version).toBe('berth');
    expect(conn.task_pid).toBe(0);
    // the serving process is in a session of its own, and keeps no descriptor but its own
    const stat = readFileSync(`/proc/${conn.shim_pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    expect(Number(fields[3])).toBe(conn.shim_pid);
    const { readlinkSync, closeSync } = await import('node:fs');
    closeSync(leak);
    const fds = readdirSync(`/proc/${conn.shim_pid}/fd`)
      .map(Number)
      .sort((x, y) => x - y);
    const targets = fds.map((fd) => {
      try {
        return readlinkSync(`/proc/${conn.shim_pid}/fd/${fd}`);
      } catch {
        return '';
      }
    });
    expect(targets).not.toContain(join(b.state, 'leaked'));
    expect(targets.slice(0, 3)).toEqual(['/dev/null', join(b.bundle, 'shim.log'), join(b.bundle, 'shim.log')]);
    // a second start for the same container finds the live shim
    const again = runShim(b, ['start']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout.toString()).address).toBe(boot.address);
  });

  it('start fails with a message and a non-zero status when the bundle has no config.json', () => {
    const b = makeBundle({ args: ['true'] });
    rmSync(join(b.bundle, 'config.json'));
    const r = runShim(b, ['start']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/config\.json/);
    expect(r.stdout.toString()).toBe('');
  });

  it('containers of one group share a shim', async () => {
    const a = makeBundle({ args: ['true'], annotations: { 'io.containerd.runc.v2.group': 'g1' } });
    const b = makeBundle({ args: ['true'], annotations: { 'io.containerd.runc.v2.group': 'g1' } }, a.state);
    const sa = await startShim(a);
    const rb = runShim(b, ['start']);
    expect(rb.code, rb.stderr).toBe(0);
    expect(JSON.parse(rb.stdout.toString()).address).toBe(sa.address);
  });

  it('one group shim runs several containers at once, each with its own exit status', async () => {
    const group = { 'io.containerd.runc.v2.group': 'many' };
    const first = makeBundle({ args: ['true'], annotations: group });
    const bundles = [first, ...[1, 2, 3, 4].map((n) => makeBundle({ args: ['sh', '-c', `echo c${n}; exit ${n}`], annotations: group }, first.state))];
    const shim = await startShim(first);
    const results = await Promise.all(
      bundles.map(async (b, n) => {
        expect(JSON.parse(runShim(b, ['start']).stdout.toString()).address).toBe(shim.address);
        const fifoDir = mkdtempSync(join(work, 'f'));
        const out = readFifo(join(fifoDir, 'out'));
        await shim.task.Create({ id: b.id, bundle: b.bundle, rootfs: rootfsMounts(), stdout: join(fifoDir, 'out') });
        await shim.task.Start({ id: b.id });
        const w = await shim.task.Wait({ id: b.id });
        await shim.task.Delete({ id: b.id });
        return [w.exit_status, await out.done, n];
      }),
    );
    for (const [status, text, n] of results) {
      expect(status).toBe(n);
      expect(text).toBe(n === 0 ? '' : `c${n}\n`);
    }
    expect(zombieChildren(shim.pid)).toEqual([]);
  });

  it('copies stdout through a FIFO and Wait returns after the output is complete', async () => {
    const { b, shim, stdout, created } = await run(['sh', '-c', 'echo hello; echo world']);
    expect(created.pid).toBeGreaterThan(0);
    expect((await shim.task.State({ id: b.id })).status).toBe('CREATED');
    const wait = shim.task.Wait({ id: b.id });
    const started = await shim.task.Start({ id: b.id });
    expect(started.pid).toBe(created.pid);
    const w = await wait;
    expect(w.exit_status).toBe(0);
    // Wait came back after the output had been copied
    expect(stdout.text()).toBe('hello\nworld\n');
    expect(await stdout.done).toBe('hello\nworld\n');
    const st = await shim.task.State({ id: b.id });
    expect(st.status).toBe('STOPPED');
    expect(st.exit_status).toBe(0);
    const del = await shim.task.Delete({ id: b.id });
    expect(del.pid).toBe(created.pid);
    expect(del.exit_status).toBe(0);
    expect(Number(del.exited_at!.seconds)).toBeGreaterThan(0);
    expect(spawnSync('mountpoint', ['-q', join(b.bundle, 'rootfs')]).status).not.toBe(0);
    await expect(shim.task.State({ id: b.id })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
  });

  it('reports the exit code of `sh -c "exit 3"` and stderr output', async () => {
    const { b, shim, stderr } = await run(['sh', '-c', 'echo oops >/dev/stderr; exit 3']);
    await shim.task.Start({ id: b.id });
    const w = await shim.task.Wait({ id: b.id });
    expect(w.exit_status).toBe(3);
    expect(await stderr.done).toBe('oops\n');
  });

  it('SIGKILL gives 137 and SIGTERM 143', async () => {
    // in a pid namespace of its own, sleep would be init, which SIGTERM does not kill
    for (const [signal, status] of [
      [9, 137],
      [15, 143],
    ]) {
      const { b, shim } = await run(['sleep', '1000'], { sharedPid: true });
      await shim.task.Start({ id: b.id });
      await shim.task.Kill({ id: b.id, signal });
      const w = await shim.task.Wait({ id: b.id });
      expect(w.exit_status).toBe(status);
    }
  });

  it('Kill of a finished process is NotFound', async () => {
    const { b, shim } = await run(['true']);
    await shim.task.Start({ id: b.id });
    await shim.task.Wait({ id: b.id });
    await expect(shim.task.Kill({ id: b.id, signal: 9 })).rejects.toMatchObject({
      code: grpc.status.NOT_FOUND,
      details: expect.stringContaining('process already finished'),
    });
  });

  it('deletes a task that was created but never started', async () => {
    const { b, shim, created } = await run(['sleep', '1000']);
    const ev = collectEvents(shim);
    const wait = shim.task.Wait({ id: b.id });
    const del = await shim.task.Delete({ id: b.id });
    expect(del.pid).toBe(created.pid);
    expect(del.exit_status).toBe(137);
    expect((await wait).exit_status).toBe(137);
    await ev.until((e) => e.some((x) => x.topic === '/tasks/delete'));
    ev.cancel();
    expect(ev.events.map((e) => e.topic)).toEqual(['/tasks/create', '/tasks/exit', '/tasks/delete']);
    expect(() => process.kill(created.pid, 0)).toThrow();
  });

  it('an init killed between Create and Start is STOPPED, not CREATED forever', async () => {
    const { b, shim, created } = await run(['true']);
    process.kill(created.pid, 'SIGKILL');
    expect((await shim.task.Wait({ id: b.id })).exit_status).toBe(137);
    expect((await shim.task.State({ id: b.id })).status).toBe('STOPPED');
    await expect(shim.task.Start({ id: b.id })).rejects.toMatchObject({ code: grpc.status.FAILED_PRECONDITION });
    expect((await shim.task.Delete({ id: b.id })).exit_status).toBe(137);
  });

  it("a container deleted from runc behind the shim's back: Wait returns, Kill is NotFound", async () => {
    const { b, shim } = await run(['sleep', '1000']);
    await shim.task.Start({ id: b.id });
    const wait = shim.task.Wait({ id: b.id });
    expect(spawnSync('runc', ['--root', join(b.state, 'runc', ns), 'delete', '--force', b.id]).status).toBe(0);
    const t0 = Date.now();
    expect((await wait).exit_status).toBe(137);
    expect(Date.now() - t0).toBeLessThan(2000);
    await expect(shim.task.Kill({ id: b.id, signal: 9 })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    expect((await shim.task.Delete({ id: b.id })).exit_status).toBe(137);
  });

  it("a missing executable fails Create with runc's own message and leaves nothing mounted", async () => {
    const b = makeBundle({ args: ['nosuch'] });
    const shim = await startShim(b);
    const err = await shim.task.Create({ id: b.id, bundle: b.bundle, rootfs: rootfsMounts() }).then(
      () => undefined,
      (e: grpc.ServiceError) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect(err!.details).toMatch(/exec: "nosuch": executable file not found in \$PATH/);
    expect(spawnSync('mountpoint', ['-q', join(b.bundle, 'rootfs')]).status).not.toBe(0);
    await expect(shim.task.State({ id: b.id })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
  });

  it('execs a process with its own output and exit code', async () => {
    const { b, shim, fifoDir } = await run(['sleep', '1000']);
    await shim.task.Start({ id: b.id });
    const out = readFifo(join(fifoDir, 'exec-out'));
    const spec = { args: ['sh', '-c', 'echo from-exec; exit 7'], env: ['PATH=/bin'], cwd: '/', user: { uid: 0, gid: 0 } };
    await shim.task.Exec({
      id: b.id,
      exec_id: 'e1',
      stdout: join(fifoDir, 'exec-out'),
      spec: { type_url: 'types.containerd.io/opencontainers/runtime-spec/1/Process', value: Buffer.from(JSON.stringify(spec)) },
    });
    expect((await shim.task.State({ id: b.id, exec_id: 'e1' })).status).toBe('CREATED');
    const wait = shim.task.Wait({ id: b.id, exec_id: 'e1' });
    const started = await shim.task.Start({ id: b.id, exec_id: 'e1' });
    expect(started.pid).toBeGreaterThan(0);
    expect((await wait).exit_status).toBe(7);
    expect(await out.done).toBe('from-exec\n');
    await expect(shim.task.Kill({ id: b.id, exec_id: 'e1', signal: 9 })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    const del = await shim.task.Delete({ id: b.id, exec_id: 'e1' });
    expect(del.exit_status).toBe(7);
    await expect(shim.task.State({ id: b.id, exec_id: 'e1' })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    // init is still running
    expect((await shim.task.State({ id: b.id })).status).toBe('RUNNING');
    await shim.task.Kill({ id: b.id, signal: 9 });
    expect((await shim.task.Wait({ id: b.id })).exit_status).toBe(137);
  });

  it('stdin reaches the process and CloseIO ends it', async () => {
    const b = makeBundle({ args: ['cat'] });
    const shim = await startShim(b);
    const fifoDir = mkdtempSync(join(work, 'f'));
    const input = stdinFifo(join(fifoDir, 'in'));
    const out = readFifo(join(fifoDir, 'out'));
    await shim.task.Create({ id: b.id, bundle: b.bundle, rootfs: rootfsMounts(), stdin: join(fifoDir, 'in'), stdout: join(fifoDir, 'out') });
    await shim.task.Start({ id: b.id });
    input.write('line one\nline two\n');
    await new Promise((r) => input.write('', r));
    await shim.task.CloseIO({ id: b.id, stdin: true });
    expect((await shim.task.Wait({ id: b.id })).exit_status).toBe(0);
    expect(await out.done).toBe('line one\nline two\n');
    input.destroy();
  });

  it('copies a megabyte through stdin and stdout, and CloseIO loses nothing', async () => {
    const b = makeBundle({ args: ['cat'] });
    const shim = await startShim(b);
    const fifoDir = mkdtempSync(join(work, 'f'));
    const input = stdinFifo(join(fifoDir, 'in'));
    const out = readFifo(join(fifoDir, 'out'));
    await shim.task.Create({ id: b.id, bundle: b.bundle, rootfs: rootfsMounts(), stdin: join(fifoDir, 'in'), stdout: join(fifoDir, 'out') });
    await shim.task.Start({ id: b.id });
    const line = `${'x'.repeat(1023)}\n`;
    const data = line.repeat(1024);
    await new Promise((r) => input.write(data, r));
    await shim.task.CloseIO({ id: b.id, stdin: true });
    expect((await shim.task.Wait({ id: b.id })).exit_status).toBe(0);
    const text = await out.done;
    expect(text.length).toBe(data.length);
    expect(text === data).toBe(true);
    input.destroy();
  });

  it('runs a process on a terminal: output through the pty, resize, stdin', async () => {
    const b = makeBundle({ args: ['sh', '-c', 'read line; echo "got $line"; stty size'], terminal: true });
    const shim = await startShim(b);
    const fifoDir = mkdtempSync(join(work, 'f'));
    const input = stdinFifo(join(fifoDir, 'in'));
    const out = readFifo(join(fifoDir, 'out'));
    await shim.task.Create({ id: b.id, bundle: b.bundle, rootfs: rootfsMounts(), terminal: true, stdin: join(fifoDir, 'in'), stdout: join(fifoDir, 'out') });
    await shim.task.ResizePty({ id: b.id, width: 101, height: 33 });
    await shim.task.Start({ id: b.id });
    input.write('abc\n');
    expect((await shim.task.Wait({ id: b.id })).exit_status).toBe(0);
    const text = await out.done;
    expect(text).toContain('got abc\r\n');
    expect(text).toContain('33 101');
    input.destroy();
  });

  it('execs a process on a terminal', async () => {
    const { b, shim, fifoDir } = await run(['sleep', '1000']);
    await shim.task.Start({ id: b.id });
    const out = readFifo(join(fifoDir, 'tty-out'));
    const spec = { args: ['sh', '-c', 'test -t 0 && test -t 1 && echo on-a-tty'], env: ['PATH=/bin'], cwd: '/', user: { uid: 0, gid: 0 } };
    await shim.task.Exec({
      id: b.id,
      exec_id: 't1',
      terminal: true,
      stdout: join(fifoDir, 'tty-out'),
      spec: { type_url: 'types.containerd.io/opencontainers/runtime-spec/1/Process', value: Buffer.from(JSON.stringify(spec)) },
    });
    await shim.task.Start({ id: b.id, exec_id: 't1' });
    expect((await shim.task.Wait({ id: b.id, exec_id: 't1' })).exit_status).toBe(0);
    expect(await out.done).toBe('on-a-tty\r\n');
    await shim.task.Kill({ id: b.id, signal: 9 });
    await shim.task.Wait({ id: b.id });
  });

  it('gives the container process only its stdio descriptors', async () => {
    const { b, shim, created } = await run(['sleep', '1000']);
    await shim.task.Start({ id: b.id });
    const fds = readdirSync(`/proc/${created.pid}/fd`).sort();
    expect(fds).toEqual(['0', '1', '2']);
    // pipes, not sockets: a program may open /dev/stdout (see the `exit 3` test)
    const { readlinkSync, statSync } = await import('node:fs');
    expect(statSync(`/proc/${created.pid}/fd/1`).isFIFO()).toBe(true);
    expect(readlinkSync(`/proc/${created.pid}/fd/0`)).toBe('/dev/null');
    // the shim's own stdio: /dev/null in, its log out
    expect(readlinkSync(`/proc/${shim.pid}/fd/0`)).toBe('/dev/null');
    expect(readlinkSync(`/proc/${shim.pid}/fd/1`)).toBe(join(b.bundle, 'shim.log'));
    await shim.task.Kill({ id: b.id, signal: 9 });
    await shim.task.Wait({ id: b.id });
  });

  it('reports an OOM kill: /tasks/oom, then the exit with 137', async () => {
    // tail keeps everything since the last newline, and /dev/zero has none
    const { b, shim } = await run(['tail', '/dev/zero'], { memoryLimit: 16 << 20 });
    const ev = collectEvents(shim);
    await shim.task.Start({ id: b.id });
    expect((await shim.task.Wait({ id: b.id })).exit_status).toBe(137);
    await ev.until((e) => e.some((x) => x.topic === '/tasks/exit'));
    ev.cancel();
    const topics = ev.events.map((e) => e.topic);
    expect(topics.filter((t) => t === '/tasks/oom')).toHaveLength(1);
    expect(topics.indexOf('/tasks/oom')).toBeLessThan(topics.indexOf('/tasks/exit'));
  });

  it('Stats returns the cgroup metrics as an Any', async () => {
    const { b, shim } = await run(['sleep', '1000']);
    await shim.task.Start({ id: b.id });
    const { stats } = await shim.task.Stats({ id: b.id });
    expect(stats!.type_url).toMatch(/^io\.containerd\.cgroups\.v[12]\.Metrics$/);
    expect(stats!.value.length).toBeGreaterThan(0);
    await shim.task.Kill({ id: b.id, signal: 9 });
    await shim.task.Wait({ id: b.id });
  });

  it('appends stdout and stderr to a file:// URI', async () => {
    const b = makeBundle({ args: ['sh', '-c', 'echo to-out; echo to-err >&2'] });
    const shim = await startShim(b);
    const log = join(mkdtempSync(join(work, 'f')), 'sub', 'log.txt');
    await shim.task.Create({ id: b.id, bundle: b.bundle, rootfs: rootfsMounts(), stdout: `file://${log}`, stderr: `file://${log}` });
    await shim.task.Start({ id: b.id });
    expect((await shim.task.Wait({ id: b.id })).exit_status).toBe(0);
    expect(readFileSync(log, 'utf8').split('\n').sort().join('\n')).toBe('\nto-err\nto-out');
  });

  it('hands stdout and stderr to a binary:// logging binary', async () => {
    const dir = mkdtempSync(join(work, 'l'));
    const script = join(dir, 'logger.sh');
    writeFileSync(
      script,
      [
        '#!/bin/sh',
        'echo "$CONTAINER_ID $CONTAINER_NAMESPACE $1" > "$2/env"',
        'cat <&3 > "$2/out" 5>&- &',
        'cat <&4 > "$2/err" 5>&- &',
        'exec 5>&-',
        'wait',
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    const b = makeBundle({ args: ['sh', '-c', 'echo to-out; echo to-err >&2'] });
    const shim = await startShim(b);
    const uri = `binary://${script}?dir=${encodeURIComponent(dir)}`;
    await shim.task.Create({ id: b.id, bundle: b.bundle, rootfs: rootfsMounts(), stdout: uri, stderr: uri });
    await shim.task.Start({ id: b.id });
    expect((await shim.task.Wait({ id: b.id })).exit_status).toBe(0);
    expect(readFileSync(join(dir, 'env'), 'utf8')).toBe(`${b.id} ${ns} dir\n`);
    expect(readFileSync(join(dir, 'out'), 'utf8')).toBe('to-out\n');
    expect(readFileSync(join(dir, 'err'), 'utf8')).toBe('to-err\n');
  });

  it("takes runtime options from start's stdin and applies Update", async () => {
    const b = makeBundle({ args: ['sleep', '1000'] });
    const altRoot = join(b.state, 'altroot');
    const type = codec('containerd.runc.v1.Options');
    const anyType = codec('google.protobuf.Any');
    const options = anyType
      .encode(anyType.fromObject({ type_url: 'containerd.runc.v1.Options', value: type.encode(type.fromObject({ root: altRoot })).finish() }))
      .finish();
    const r = runShim(b, ['start'], Buffer.from(options));
    expect(r.code, r.stderr).toBe(0);
    const shim = connectShim(JSON.parse(r.stdout.toString()).address);
    shim.pid = (await shim.task.Connect({ id: b.id })).shim_pid;
    shims.push(shim);
    await shim.task.Create({ id: b.id, bundle: b.bundle, rootfs: rootfsMounts() });
    expect(existsSync(join(altRoot, ns, b.id, 'state.json'))).toBe(true);
    await shim.task.Start({ id: b.id });
    await shim.task.Update({
      id: b.id,
      resources: { type_url: 'types.containerd.io/opencontainers/runtime-spec/1/LinuxResources', value: Buffer.from(JSON.stringify({ pids: { limit: 42 } })) },
    });
    const pidsMax = cgroupDirs(join(ns, b.id))
      .map((d) => join(d, 'pids.max'))
      .find((f) => existsSync(f));
    expect(pidsMax && readFileSync(pidsMax, 'utf8').trim()).toBe('42');
    await shim.task.Kill({ id: b.id, signal: 9 });
    await shim.task.Wait({ id: b.id });
    await shim.task.Delete({ id: b.id });
    spawnSync('runc', ['--root', join(altRoot, ns), 'delete', '--force', b.id]);
  });

  it('lists pids, pauses and resumes', async () => {
    const { b, shim, created } = await run(['sleep', '1000']);
    await shim.task.Start({ id: b.id });
    const spec = { args: ['sleep', '1000'], env: ['PATH=/bin'], cwd: '/', user: { uid: 0, gid: 0 } };
    await shim.task.Exec({
      id: b.id,
      exec_id: 'sleeper',
      spec: { type_url: 'types.containerd.io/opencontainers/runtime-spec/1/Process', value: Buffer.from(JSON.stringify(spec)) },
    });
    const execPid = (await shim.task.Start({ id: b.id, exec_id: 'sleeper' })).pid;
    const pids = await shim.task.Pids({ id: b.id });
    expect(pids.processes.map((p: { pid: number }) => p.pid)).toContain(created.pid);
    const execInfo = pids.processes.find((p: { pid: number }) => p.pid === execPid);
    expect(unpackAny(execInfo!.info as AnyMessage)).toEqual({ typeName: 'containerd.runc.v1.ProcessDetails', message: { exec_id: 'sleeper' } });
    expect(pids.processes.find((p: { pid: number }) => p.pid === created.pid)!.info).toBeNull();
    await shim.task.Pause({ id: b.id });
    expect((await shim.task.State({ id: b.id })).status).toBe('PAUSED');
    await shim.task.Resume({ id: b.id });
    expect((await shim.task.State({ id: b.id })).status).toBe('RUNNING');
    await expect(shim.task.Delete({ id: b.id })).rejects.toMatchObject({ code: grpc.status.FAILED_PRECONDITION });
    await expect(shim.task.Checkpoint({ id: b.id })).rejects.toMatchObject({ code: grpc.status.UNIMPLEMENTED });
    await shim.task.Kill({ id: b.id, signal: 9, all: true });
    expect((await shim.task.Wait({ id: b.id })).exit_status).toBe(137);
  });

  it('publishes each event once, in order, and re-delivers until acknowledged', async () => {
    const { b, shim, created } = await run(['sh', '-c', 'exit 5']);
    const first = collectEvents(shim);
    await shim.task.Start({ id: b.id });
    await shim.task.Wait({ id: b.id });
    await shim.task.Delete({ id: b.id });
    await first.until((e) => e.some((x) => x.topic === '/tasks/delete'));
    first.cancel();
    const topics = first.events.map((e) => e.topic);
    expect(topics).toEqual(['/tasks/create', '/tasks/start', '/tasks/exit', '/tasks/delete']);
    expect(first.events.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    expect(first.events[0]).toMatchObject({ container_id: b.id, bundle: b.bundle, pid: created.pid });
    expect(first.events[2]).toMatchObject({ container_id: b.id, id: b.id, pid: created.pid, exit_status: 5 });
    // the daemon "restarts": a second subscriber gets everything not yet acknowledged
    const second = collectEvents(shim);
    await second.until((e) => e.length === 4);
    second.cancel();
    expect(second.events.map((e) => e.topic)).toEqual(topics);
    await shim.ack({ seq: 2 });
    const third = collectEvents(shim);
    await third.until((e) => e.length === 2);
    await new Promise((r) => setTimeout(r, 100));
    third.cancel();
    expect(third.events.map((e) => e.seq)).toEqual([3, 4]);
  });

  it('publishes exec-added and exec-started, and the exec exit with the exec id', async () => {
    const { b, shim } = await run(['sleep', '1000']);
    const ev = collectEvents(shim);
    await shim.task.Start({ id: b.id });
    const spec = { args: ['true'], env: ['PATH=/bin'], cwd: '/', user: { uid: 0, gid: 0 } };
    await shim.task.Exec({
      id: b.id,
      exec_id: 'x',
      spec: { type_url: 'types.containerd.io/opencontainers/runtime-spec/1/Process', value: Buffer.from(JSON.stringify(spec)) },
    });
    const started = await shim.task.Start({ id: b.id, exec_id: 'x' });
    await shim.task.Wait({ id: b.id, exec_id: 'x' });
    await ev.until((e) => e.some((x) => x.topic === '/tasks/exit'));
    ev.cancel();
    expect(ev.events.map((e) => e.topic)).toEqual(['/tasks/create', '/tasks/start', '/tasks/exec-added', '/tasks/exec-started', '/tasks/exit']);
    expect(ev.events[3]).toMatchObject({ exec_id: 'x', pid: started.pid });
    expect(ev.events[4]).toMatchObject({ container_id: b.id, id: 'x', pid: started.pid, exit_status: 0 });
  });

  it('leaves no zombies, also of processes re-parented to the shim', async () => {
    // a shared pid namespace: the backgrounded sleep is re-parented to the shim when sh exits
    const { b, shim } = await run(['sh', '-c', 'sleep 0.3 & exit 0'], { sharedPid: true });
    await shim.task.Start({ id: b.id });
    expect((await shim.task.Wait({ id: b.id })).exit_status).toBe(0);
    await new Promise((r) => setTimeout(r, 800));
    expect(zombieChildren(shim.pid)).toEqual([]);
  });

  it('shuts down after the last container is deleted and its events are acknowledged', async () => {
    const { b, shim } = await run(['true']);
    const ev = collectEvents(shim);
    await shim.task.Start({ id: b.id });
    await shim.task.Wait({ id: b.id });
    await shim.task.Delete({ id: b.id });
    await shim.task.Shutdown({ id: b.id });
    await new Promise((r) => setTimeout(r, 200));
    // still there: the events are not acknowledged yet
    expect(() => process.kill(shim.pid, 0)).not.toThrow();
    await ev.until((e) => e.length === 4);
    await shim.ack({ seq: 4 });
    for (let i = 0; i < 100; i++) {
      try {
        process.kill(shim.pid, 0);
      } catch {
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(() => process.kill(shim.pid, 0)).toThrow();
    expect(existsSync(shim.path)).toBe(false);
  });

  it('the delete subcommand cleans up after a dead shim and prints a DeleteResponse with 137', async () => {
    const { b, shim, created } = await run(['sleep', '1000']);
    await shim.task.Start({ id: b.id });
    process.kill(shim.pid, 'SIGKILL');
    shim.close();
    const r = runShim(b, ['delete'], Buffer.alloc(0), ['-bundle', b.bundle]);
    expect(r.code, r.stderr).toBe(0);
    const type = codec('containerd.task.v2.DeleteResponse');
    const res = type.toObject(type.decode(r.stdout), { longs: Number }) as { pid: number; exit_status: number; exited_at: { seconds: number } };
    expect(res.pid).toBe(created.pid);
    expect(res.exit_status).toBe(137);
    expect(Math.abs(res.exited_at.seconds - Date.now() / 1000)).toBeLessThan(60);
    expect(spawnSync('mountpoint', ['-q', join(b.bundle, 'rootfs')]).status).not.toBe(0);
    expect(spawnSync('runc', ['--root', join(b.state, 'runc', ns), 'state', b.id]).status).not.toBe(0);
  });
});
