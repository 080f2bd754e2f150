// berth's ttrpc client and server against containerd's own runc shim (containerd-shim-runc-v2 of
// containerd 1.6, ttrpc v1.1.1), started the way containerd starts it: `start` prints the
// address of the shim's socket, the Task API is called over our client, and the shim forwards
// its events to our server on TTRPC_ADDRESS.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, promises as fs, constants as fsc, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { codec } from '../api/codec.ts';
import type { Envelope__Output } from '../api/gen/containerd/services/events/ttrpc/v1/Envelope.ts';
import type { DeleteResponse__Output } from '../api/gen/containerd/task/v2/DeleteResponse.ts';
import { loadOptions } from '../api/load-options.ts';
import { TaskV2, TtrpcEvents } from '../api/services.ts';
import { packAny, unpackAny } from '../core/any.ts';
import { socketPathOf, TtrpcChannel, type TtrpcClient, ttrpcClient } from '../transport/ttrpc/client.ts';
import { TtrpcServer } from '../transport/ttrpc/server.ts';
import { describeAsRoot, installed } from './support/root.ts';
import { RuncFixture } from './support/runc-fixture.ts';

const shimBinary = 'containerd-shim-runc-v2';

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

function run(args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(shimBinary, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr }));
  });
}

/** Pids of the processes whose command line holds `-id ID` (our shims, by their unique id). */
function shimPids(id: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (argv[0]?.endsWith(shimBinary) && argv[argv.indexOf('-id') + 1] === id) pids.push(Number(entry));
    } catch {
      // gone
    }
  }
  return pids;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * One container's bundle and shim, as containerd lays them out: the bundle is <dir>/<id> (the
 * shim's delete action finds it as dirname(cwd)/id), with a `log` fifo the shim writes its log to.
 */
class ShimUnderTest {
  readonly ns = `berthtest-${process.pid}-${Math.random().toString(36).slice(2, 6)}`;
  readonly events: Envelope__Output[] = [];
  /** the namespace metadata of each Forward call */
  readonly forwardedIn: string[] = [];
  readonly bundle: string;
  readonly eventsSocket: string;
  /** the containerd address the shim is told; only the socket name is derived from it */
  readonly containerdAddress: string;
  readonly output: string;
  /** the container's files; the shim bind-mounts them on <bundle>/rootfs, as containerd passes a snapshot's mounts */
  readonly rootfsSource: string;
  address = '';
  log = '';
  channel: TtrpcChannel | undefined;
  private logSocket: net.Socket | undefined;
  private readonly eventServer = new TtrpcServer();

  private constructor(readonly fixture: RuncFixture) {
    this.bundle = join(fixture.dir, fixture.id);
    this.eventsSocket = join(fixture.dir, 'events.sock');
    this.containerdAddress = join(fixture.dir, 'containerd.sock');
    this.output = join(fixture.dir, 'stdout');
    this.rootfsSource = join(fixture.dir, 'rootfs');
  }

  get id() {
    return this.fixture.id;
  }

  static async create(args: string[]): Promise<ShimUnderTest> {
    const fixture = await RuncFixture.create({ args });
    const s = new ShimUnderTest(fixture);
    await fs.rename(fixture.bundle, s.bundle);
    await fs.rename(join(s.bundle, 'rootfs'), s.rootfsSource);
    await fs.mkdir(join(s.bundle, 'rootfs'));
    return s;
  }

  /** Create's rootfs: one bind mount of the container's files. */
  get rootfs() {
    return [{ type: 'bind', source: this.rootfsSource, options: ['rbind', 'ro'] }];
  }

  /** Whether <bundle>/rootfs is a mount point in our (the shim's) mount namespace. */
  rootfsMounted(): boolean {
    const target = join(this.bundle, 'rootfs');
    return readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .some((line) => line.split(' ')[4] === target);
  }

  private get env(): NodeJS.ProcessEnv {
    return { ...process.env, TTRPC_ADDRESS: this.eventsSocket, GOMAXPROCS: '2' };
  }

  /** Serves Events/Forward, runs `start`, and connects to the address it prints. */
  async start(): Promise<TtrpcClient<typeof TaskV2>> {
    this.eventServer.register(TtrpcEvents, {
      Forward: async (req, ctx) => {
        this.forwardedIn.push(ctx.namespace);
        if (req.envelope) this.events.push(req.envelope);
        return {};
      },
    });
    await this.eventServer.listen(this.eventsSocket);
    const logFifo = join(this.bundle, 'log');
    if (spawnSync('mkfifo', [logFifo]).status !== 0) throw new Error('mkfifo failed');
    // read-write: the open does not wait for the shim to open its end
    this.logSocket = new net.Socket({ fd: openSync(logFifo, fsc.O_RDWR | fsc.O_NONBLOCK), readable: true, writable: false });
    this.logSocket.setEncoding('utf8').on('data', (d: string) => (this.log += d));
    const r = await run(
      ['-namespace', this.ns, '-address', this.containerdAddress, '-publish-binary', '/usr/bin/containerd', '-id', this.id, 'start'],
      this.bundle,
      this.env,
    );
    if (r.code !== 0) throw new Error(`shim start: exit ${r.code}: ${r.stdout}${r.stderr}`);
    this.address = `${r.stdout.toString()}${r.stderr}`.trim();
    this.channel = await TtrpcChannel.connect(this.address);
    return ttrpcClient(TaskV2, this.channel, { namespace: this.ns, timeoutMs: 10_000 });
  }

  /** The `delete` action, as containerd runs it for a shim it cannot reach: a binary DeleteResponse on stdout. */
  async deleteAction(): Promise<DeleteResponse__Output> {
    const r = await run(
      ['-namespace', this.ns, '-address', this.containerdAddress, '-publish-binary', '/usr/bin/containerd', '-id', this.id, '-bundle', this.bundle, 'delete'],
      this.bundle,
      this.env,
    );
    if (r.code !== 0) throw new Error(`shim delete: exit ${r.code}: ${r.stderr}`);
    const type = codec('containerd.task.v2.DeleteResponse');
    return type.toObject(type.decode(r.stdout), loadOptions) as DeleteResponse__Output;
  }

  /** Where the shim listens: /run/containerd/s/ and sha256 of (containerd address, namespace, group = the id). */
  get expectedSocket(): string {
    return `/run/containerd/s/${createHash('sha256')
      .update(join(this.containerdAddress, this.ns, this.id))
      .digest('hex')}`;
  }

  /** The events forwarded so far, as [topic, namespace, decoded event]. */
  topics(): Array<{ topic: string; namespace: string; event: Record<string, unknown> }> {
    return this.events.map((e) => ({ topic: e.topic, namespace: e.namespace, event: unpackAny(e.event!).message }));
  }

  /** Kills the shim and its container, and removes its socket, runc state, cgroups and bundle. */
  async cleanup() {
    this.channel?.close();
    for (const pid of shimPids(this.id)) process.kill(pid, 'SIGKILL');
    const runcRoot = `/run/containerd/runc/${this.ns}`;
    const containers = spawnSync('runc', ['--root', runcRoot, 'list', '-q'], { encoding: 'utf8' }).stdout?.split('\n').filter(Boolean) ?? [];
    for (const id of new Set([this.id, ...containers])) spawnSync('runc', ['--root', runcRoot, 'delete', '--force', id]);
    rmSync(runcRoot, { recursive: true, force: true });
    for (const socket of [this.expectedSocket, socketPathOf(this.address)]) if (socket.startsWith('/run/containerd/s/')) rmSync(socket, { force: true });
    for (let i = 0; i < 5 && this.rootfsMounted(); i++) spawnSync('umount', ['-l', join(this.bundle, 'rootfs')]);
    if (this.rootfsMounted()) throw new Error(`${this.bundle}/rootfs is still mounted`);
    this.logSocket?.destroy();
    await this.eventServer.close();
    await this.fixture.cleanup();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, check: () => boolean, timeoutMs = 10_000) {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describeAsRoot('containerd-shim-runc-v2 over berth ttrpc', [installed(shimBinary), installed('runc'), installed('mkfifo')], () => {
  let shim: ShimUnderTest | undefined;
  afterEach(async () => {
    const log = shim?.log ?? '';
    await shim?.cleanup();
    shim = undefined;
    // what the shim logged to the `log` fifo (containerd copies it to its own log)
    expect(log, log).not.toMatch(/level=(error|fatal)|panic/);
  });

  it('runs a task to its exit code and output, and forwards create, start, exit and delete events', async () => {
    shim = await ShimUnderTest.create(['sh', '-c', 'echo hi; exit 3']);
    const task = await shim.start();
    expect(shim.address).toBe(`unix://${shim.expectedSocket}`);
    const connected = await task.Connect({ id: shim.id });
    expect(shimPids(shim.id)).toEqual([connected.shim_pid]);

    // a file:// stdout needs stderr set too (the same file, as containerd's cio.LogFile does): the
    // 1.6 shim copies both to the file and panics on a nil stderr pipe
    const created = await task.Create({
      id: shim.id,
      bundle: shim.bundle,
      rootfs: shim.rootfs,
      stdout: `file://${shim.output}`,
      stderr: `file://${shim.output}`,
    });
    expect(created.pid).toBeGreaterThan(0);
    expect(shim.rootfsMounted()).toBe(true);
    expect(await task.State({ id: shim.id })).toMatchObject({ id: shim.id, pid: created.pid, status: 'CREATED', bundle: shim.bundle });
    expect(await task.Start({ id: shim.id })).toMatchObject({ pid: created.pid });
    const waited = await task.Wait({ id: shim.id });
    expect(waited.exit_status).toBe(3);
    expect(await task.State({ id: shim.id })).toMatchObject({ status: 'STOPPED', exit_status: 3 });
    await waitFor('the output', () => existsSync(shim!.output) && readFileSync(shim!.output, 'utf8') === 'hi\n');

    const deleted = await task.Delete({ id: shim.id });
    expect(deleted).toMatchObject({ pid: created.pid, exit_status: 3 });
    expect(shim.rootfsMounted()).toBe(false);
    await expect(task.State({ id: shim.id })).rejects.toMatchObject({ code: 'NotFound' });

    await waitFor('the delete event', () => shim!.events.some((e) => e.topic === '/tasks/delete'));
    const events = shim.topics();
    expect(events.map((e) => e.topic)).toEqual(['/tasks/create', '/tasks/start', '/tasks/exit', '/tasks/delete']);
    expect(shim.forwardedIn).toEqual(events.map(() => shim!.ns));
    for (const e of events) {
      expect(e.namespace).toBe(shim.ns);
      expect(e.event.container_id).toBe(shim.id);
    }
    expect(events[2]!.event).toMatchObject({ id: shim.id, pid: created.pid, exit_status: 3 });

    const shimPid = connected.shim_pid;
    // with no task left the shim answers Shutdown, then exits and its connection closes
    const closed = new Promise<void>((r) => (shim!.channel!.onClose = () => r()));
    expect(await task.Shutdown({ id: shim.id })).toEqual({});
    await closed;
    await waitFor('the shim to exit', () => !alive(shimPid));
    expect(existsSync(shim.expectedSocket)).toBe(false); // it removes its socket (not <bundle>/address)
    await expect(task.Connect({ id: shim.id })).rejects.toMatchObject({ code: 'Unavailable' });
  }, 60_000);

  it('execs into a running container, kills it, and deletes the exec and the task', async () => {
    shim = await ShimUnderTest.create(['sleep', '1000']);
    const task = await shim.start();
    const { pid } = await task.Create({ id: shim.id, bundle: shim.bundle, rootfs: shim.rootfs });
    await task.Start({ id: shim.id });

    const execOut = join(shim.fixture.dir, 'exec-stdout');
    const spec = { args: ['sh', '-c', 'echo from exec; exit 5'], cwd: '/', env: ['PATH=/bin'], user: { uid: 0, gid: 0 }, terminal: false };
    await task.Exec({
      id: shim.id,
      exec_id: 'e1',
      stdout: `file://${execOut}`,
      stderr: `file://${execOut}`,
      spec: packAny('types.containerd.io/opencontainers/runtime-spec/1/Process', spec),
    });
    const execPid = (await task.Start({ id: shim.id, exec_id: 'e1' })).pid;
    expect(execPid).toBeGreaterThan(0);
    expect(execPid).not.toBe(pid);
    expect((await task.Wait({ id: shim.id, exec_id: 'e1' })).exit_status).toBe(5);
    await waitFor('the exec output', () => existsSync(execOut) && readFileSync(execOut, 'utf8') === 'from exec\n');
    expect(await task.Delete({ id: shim.id, exec_id: 'e1' })).toMatchObject({ pid: execPid, exit_status: 5 });
    await expect(task.State({ id: shim.id, exec_id: 'e1' })).rejects.toMatchObject({ code: 'NotFound' });

    expect(await task.State({ id: shim.id })).toMatchObject({ status: 'RUNNING', pid });
    // a call past its deadline fails here; the shim's late answer to it is dropped, the connection goes on
    await expect(task.Wait({ id: shim.id }, { timeoutMs: 200 })).rejects.toMatchObject({ code: 'DeadlineExceeded' });
    await sleep(200);
    expect(await task.State({ id: shim.id })).toMatchObject({ status: 'RUNNING', pid });
    await task.Kill({ id: shim.id, signal: 9 });
    expect((await task.Wait({ id: shim.id })).exit_status).toBe(137);
    expect(alive(pid)).toBe(false);
    expect(await task.Delete({ id: shim.id })).toMatchObject({ pid, exit_status: 137 });

    await waitFor('the delete event', () => shim!.events.some((e) => e.topic === '/tasks/delete'));
    expect(shim.topics().map((e) => e.topic)).toEqual([
      '/tasks/create',
      '/tasks/start',
      '/tasks/exec-added',
      '/tasks/exec-started',
      '/tasks/exit',
      '/tasks/exit',
      '/tasks/delete',
    ]);
    expect(await task.Shutdown({ id: shim.id })).toEqual({});
  }, 60_000);

  it('cleans up after a SIGKILLed shim with the delete action: a binary DeleteResponse, the container gone', async () => {
    shim = await ShimUnderTest.create(['sleep', '1000']);
    const task = await shim.start();
    const { pid } = await task.Create({ id: shim.id, bundle: shim.bundle, rootfs: shim.rootfs });
    await task.Start({ id: shim.id });
    const { shim_pid } = await task.Connect({ id: shim.id });
    const lost = new Promise<void>((r) => (shim!.channel!.onClose = () => r()));
    process.kill(shim_pid, 'SIGKILL');
    await lost;
    await expect(task.State({ id: shim.id })).rejects.toMatchObject({ code: 'Unavailable' });
    expect(alive(pid)).toBe(true); // the container outlives its shim

    const deleted = await shim.deleteAction();
    expect(deleted).toMatchObject({ pid, exit_status: 137 });
    expect(deleted.exited_at?.seconds).toBeGreaterThan(0);
    expect(shim.rootfsMounted()).toBe(false);
    await waitFor('the container to die', () => !alive(pid));
    // the killed shim's socket file stays: the delete action does not remove it
    expect(existsSync(shim.expectedSocket)).toBe(true);
    expect(spawnSync('runc', ['--root', `/run/containerd/runc/${shim.ns}`, 'state', shim.id]).status).not.toBe(0);
  }, 60_000);
});
