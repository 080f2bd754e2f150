// berth-monitor against the real runc and a busybox bundle: exit files, the control socket,
// stdio through FIFOs (readers that come and go, backpressure), terminals, exec, failures, and
// what the monitor costs in memory.
//
// BERTH_MONITOR=dist/native/berth-monitor-asan runs the same tests against the sanitizer build
// (`node native/build.ts --sanitize`); ASAN_OPTIONS=log_path=... collects its reports, since the
// detached monitor's stderr is /dev/null.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  constants as C,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { connect, type Socket } from 'node:net';
import { basename, dirname, join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { describeAsRoot, installed, itAsRoot } from '../../../test/support/root.ts';
import { type FixtureOptions, RuncFixture } from '../../../test/support/runc-fixture.ts';
import { MonitorClient, type MonitorOptions, monitorArgs, monitorBinary, parseExit, readExit, startMonitor, WaitingMonitor } from './index.ts';

const binary = process.env.BERTH_MONITOR || monitorBinary();
const sanitized = binary.endsWith('-asan');

// Under the sanitizer build, any report the monitors wrote (ASAN_OPTIONS/UBSAN_OPTIONS
// log_path=PREFIX makes PREFIX.<pid> files) fails the run.
afterAll(() => {
  if (!sanitized) return;
  for (const options of [process.env.ASAN_OPTIONS, process.env.UBSAN_OPTIONS]) {
    const prefix = /(?:^|:)log_path=([^:]+)/.exec(options ?? '')?.[1];
    if (!prefix) continue;
    const reports = readdirSync(dirname(prefix)).filter((f) => f.startsWith(`${basename(prefix)}.`));
    expect(reports.map((f) => readFileSync(join(dirname(prefix), f), 'utf8')).join('\n')).toBe('');
  }
});

/** Undo steps of the running test, run last-first after it, pass or fail. */
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const undo of cleanups.splice(0).reverse()) await undo();
});

async function fixture(opts: FixtureOptions): Promise<RuncFixture> {
  const f = await RuncFixture.create(opts);
  cleanups.push(() => f.cleanup());
  return f;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const alive = (pid: number) => existsSync(`/proc/${pid}`);

function isMonitor(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('berth-monitor');
  } catch {
    return false;
  }
}

/** /proc/PID/stat fields after the command name: [state, ppid, pgrp, session, ...] */
function stat(pid: number): string[] {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return s.slice(s.lastIndexOf(')') + 2).split(' ');
}

function pss(pid: number): number {
  const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
  return Number(m![1]) * 1024;
}

let sockets = 0;

/** Starts a monitor for the fixture's container (create mode unless told otherwise). */
async function start(f: RuncFixture, extra: Partial<MonitorOptions> = {}) {
  const socket = join(f.dir, `m${sockets++}.sock`);
  const opts: MonitorOptions = { id: f.id, runtime: f.binary, runtimeArgs: ['--root', f.root], dir: f.bundle, socket, bundle: f.bundle, binary, ...extra };
  const m = await startMonitor(opts);
  cleanups.push(() => {
    if (isMonitor(m.monitorPid)) process.kill(m.monitorPid, 'SIGKILL');
  });
  return { ...m, socket, client: new MonitorClient(socket) };
}

function fifo(f: RuncFixture, name: string): string {
  const path = join(f.dir, name);
  expect(spawnSync('mkfifo', [path]).status).toBe(0);
  return path;
}

/** A reader of a FIFO (cat), with everything it read so far. */
function reader(path: string): { proc: ChildProcess; text: () => string; done: Promise<string> } {
  const proc = spawn('cat', [path], { stdio: ['ignore', 'pipe', 'ignore'] });
  cleanups.push(() => proc.kill('SIGKILL'));
  let text = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (text += d));
  const done = new Promise<string>((resolve) => proc.once('close', () => resolve(text)));
  return { proc, text: () => text, done };
}

function raw(socket: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(socket, () => resolve(s));
    s.once('error', reject);
    cleanups.push(() => s.destroy());
  });
}

describe('the monitor’s command line and exit file', () => {
  it('passes every option as the flags the monitor takes', () => {
    expect(
      monitorArgs({
        id: 'c1',
        runtime: '/usr/sbin/runc',
        runtimeArgs: ['--root', '/r'],
        dir: '/b',
        socket: '/s',
        bundle: '/b',
        createArgs: ['--no-pivot'],
        startFifo: '/r/c1/exec.fifo',
        rootfs: '/b/rootfs',
        start: true,
        stdin: '/in',
        stdout: '/out',
        stderr: '/err',
        terminal: true,
        namespace: 'ns',
      }),
    ).toEqual([
      ...['--id', 'c1', '--runtime', '/usr/sbin/runc', '--dir', '/b', '--socket', '/s', '--runtime-arg', '--root', '--runtime-arg', '/r'],
      ...[
        '--bundle',
        '/b',
        '--create-arg',
        '--no-pivot',
        '--start-fifo',
        '/r/c1/exec.fifo',
        '--rootfs',
        '/b/rootfs',
        '--start',
        '--stdin',
        '/in',
        '--stdout',
        '/out',
        '--stderr',
        '/err',
        '--terminal',
        '--namespace',
        'ns',
      ],
    ]);
    expect(() => monitorArgs({ id: 'c1', runtime: 'runc', dir: '/d', socket: '/s' })).toThrow(/exactly one of bundle and exec/);
  });

  it('reads `<status> <exited_at_ns>` and refuses anything else', () => {
    expect(parseExit('137 1796596759292368400\n')).toEqual({ status: 137, exitedAt: 1796596759292368400n });
    for (const bad of ['', '137\n', '137 12', 'x 1\n', '1 2 3\n']) expect(() => parseExit(bad)).toThrow(/malformed exit file/);
  });
});

describeAsRoot('berth-monitor', [installed('runc'), installed('mkfifo')], () => {
  itAsRoot('writes the exit file before it answers state and wait, and exits only when released', async () => {
    const f = await fixture({ args: ['sh', '-c', 'exit 3'] });
    writeFileSync(join(f.bundle, 'exit'), '9 1\n'); // a previous run's, which must not count
    const before = BigInt(Date.now() - 1) * 1_000_000n;
    const m = await start(f);
    expect(await m.client.state()).toEqual({ state: 'running', pid: m.pid });
    await expect(m.client.release()).rejects.toThrow(/running/);
    expect(await readExit(f.bundle)).toBeUndefined();

    const waiting = Promise.all([m.client.wait(), m.client.wait(), m.client.wait()]); // many clients at once
    await f.mustRunc(['start', f.id]);
    const [{ pid, exit }, ...others] = await waiting;
    for (const o of others) expect(o).toEqual({ pid, exit });
    expect(pid).toBe(m.pid);
    expect(exit.status).toBe(3);
    expect(exit.exitedAt >= before && exit.exitedAt <= BigInt(Date.now() + 1) * 1_000_000n).toBe(true);
    expect(readFileSync(join(f.bundle, 'exit'), 'utf8')).toBe(`3 ${exit.exitedAt}\n`);
    expect(await m.client.state()).toEqual({ state: 'exited', pid: m.pid, exit });
    expect((await m.client.wait()).exit).toEqual(exit); // a late waiter is answered at once
    await expect(m.client.kill(9)).rejects.toMatchObject({ code: 'NotFound' });
    expect(await m.client.request('frobnicate')).toBe('error unknown request');
    // the runtime and the process have been reaped: the monitor has no children left
    expect(readFileSync(`/proc/${m.monitorPid}/task/${m.monitorPid}/children`, 'utf8').trim()).toBe('');

    await m.client.release();
    await until('the monitor to exit', () => !alive(m.monitorPid));
    expect(existsSync(m.socket)).toBe(false);
    expect(alive(m.pid)).toBe(false); // not even a zombie
    await expect(m.client.state()).rejects.toThrow(/monitor gone/);
  });

  itAsRoot('is detached: its own session, not the caller’s child, no inherited descriptors; the process is its child', async () => {
    const f = await fixture({ args: ['sleep', '100'] });
    const m = await start(f);
    const [, ppid, , session] = stat(m.monitorPid);
    expect(Number(ppid)).not.toBe(process.pid);
    expect(Number(session)).toBe(m.monitorPid);
    expect(Number(stat(m.pid)[1])).toBe(m.monitorPid);
    const fds = readdirSync(`/proc/${m.monitorPid}/fd`).map((fd) => [fd, readlinkSync(`/proc/${m.monitorPid}/fd/${fd}`)]);
    for (const [fd, target] of fds) {
      if (Number(fd) <= 2) expect(target).toBe('/dev/null');
      else expect(target).toMatch(/^(socket:|pipe:|anon_inode:\[signalfd\])/);
    }

    await f.mustRunc(['start', f.id]);
    await m.client.kill(9);
    expect((await m.client.wait()).exit.status).toBe(128 + 9);
    await m.client.release();
  });

  itAsRoot('copies stdout and stderr to their FIFOs until the end', async () => {
    const f = await fixture({ args: ['sh', '-c', 'echo out; echo err >&2'] });
    const out = fifo(f, 'out');
    const err = fifo(f, 'err');
    const [r1, r2] = [reader(out), reader(err)];
    const m = await start(f, { stdout: out, stderr: err });
    await expect(m.client.resize(80, 24)).rejects.toThrow(/no terminal/);
    await f.mustRunc(['start', f.id]);
    expect((await m.client.wait()).exit.status).toBe(0);
    expect(await r1.done).toBe('out\n');
    expect(await r2.done).toBe('err\n');
    await m.client.release();
  });

  itAsRoot("starts the container it created on request (the runtime's start), and passes on the runtime's refusal", async () => {
    const f = await fixture({ args: ['sh', '-c', 'echo started'] });
    const out = fifo(f, 'out');
    const r = reader(out);
    const m = await start(f, { stdout: out });
    await sleep(100);
    expect(r.text()).toBe('');
    await m.client.start();
    expect((await m.client.wait()).exit.status).toBe(0);
    expect(await r.done).toBe('started\n');
    // the container has stopped: runc refuses to start it again, in its own words
    await expect(m.client.start()).rejects.toThrow(/OCI runtime start failed: .*(stopped|exited)/);
    await m.client.release();
  });

  itAsRoot('spawned ahead (--wait), makes nothing until its arguments come, then creates the container; abandoned, it exits', async () => {
    const f = await fixture({ args: ['sh', '-c', 'echo waited'] });
    const out = fifo(f, 'out');
    const r = reader(out);
    const socket = join(f.dir, `m${sockets++}.sock`);
    const waiting = new WaitingMonitor(binary);
    cleanups.push(() => waiting.abandon());
    await sleep(100);
    expect(alive(waiting.pid)).toBe(true);
    expect(existsSync(socket)).toBe(false);
    expect(existsSync(join(f.bundle, 'monitor.pid'))).toBe(false);
    expect(await f.state().catch(() => undefined)).toBeUndefined();
    const opts: MonitorOptions = { id: f.id, runtime: f.binary, runtimeArgs: ['--root', f.root], dir: f.bundle, socket, bundle: f.bundle, binary, stdout: out };
    const m = await startMonitor(opts, waiting);
    cleanups.push(() => {
      if (isMonitor(m.monitorPid)) process.kill(m.monitorPid, 'SIGKILL');
    });
    expect((await f.state()).status).toBe('created');
    const client = new MonitorClient(socket);
    await client.start();
    expect(await r.done).toBe('waited\n');
    expect((await client.wait()).exit.status).toBe(0);
    await client.release();
    // used once only; abandoning a used one does nothing
    expect(() => waiting.take([])).toThrow(/used once/);
    await waiting.abandon();

    const unused = new WaitingMonitor(binary);
    await sleep(50);
    expect(alive(unused.pid)).toBe(true);
    await unused.abandon();
    expect(alive(unused.pid)).toBe(false);

    // one killed while it waited: the create starts a monitor of its own instead
    const f2 = await fixture({ args: ['true'] });
    const killed = new WaitingMonitor(binary);
    process.kill(killed.pid, 'SIGKILL');
    await until('the waiting monitor to die', () => readFileSync(`/proc/${killed.pid}/stat`, 'utf8').split(') ')[1]?.[0] === 'Z');
    const socket2 = join(f2.dir, `m${sockets++}.sock`);
    const m2 = await startMonitor(
      { id: f2.id, runtime: f2.binary, runtimeArgs: ['--root', f2.root], dir: f2.bundle, socket: socket2, bundle: f2.bundle, binary },
      killed,
    );
    cleanups.push(() => {
      if (isMonitor(m2.monitorPid)) process.kill(m2.monitorPid, 'SIGKILL');
    });
    expect((await f2.state()).status).toBe('created');
    await new MonitorClient(socket2).start();
    expect((await new MonitorClient(socket2).wait()).exit.status).toBe(0);
    await new MonitorClient(socket2).release();
  });

  itAsRoot('with --start starts the container it created without being asked; the first start request gets how that went', async () => {
    const f = await fixture({ args: ['sh', '-c', 'echo started'] });
    const out = fifo(f, 'out');
    const r = reader(out);
    const m = await start(f, { stdout: out, start: true, startFifo: join(f.root, f.id, 'exec.fifo') });
    // nobody asked: it runs to its end all the same
    expect(await r.done).toBe('started\n');
    expect((await m.client.wait()).exit.status).toBe(0);
    await m.client.start();
    // only the first: after it, a start is the runtime's again (which refuses a stopped container)
    await expect(m.client.start()).rejects.toThrow(/OCI runtime start failed/);
    await m.client.release();
  });

  itAsRoot(
    "starts a runc container by reading its exec FIFO, without running the runtime, and falls back to the runtime's start when there is no FIFO",
    async () => {
      // a runtime that records what it is asked to do
      const calls = join(mkdtempSync('/tmp/berth-monitor-calls-'), 'calls');
      cleanups.push(() => rmSync(dirname(calls), { recursive: true, force: true }));
      const runtime = join(dirname(calls), 'runtime');
      const recorded = () =>
        readFileSync(calls, 'utf8')
          .split('\n')
          .filter((l) => l !== '');

      for (const viaFifo of [true, false]) {
        const f = await fixture({ args: ['sh', '-c', 'echo started'] });
        writeFileSync(runtime, `#!/bin/sh\necho "$*" >> ${calls}\nexec ${f.binary} "$@"\n`, { mode: 0o755 });
        const execFifo = join(f.root, f.id, 'exec.fifo');
        const out = fifo(f, 'out');
        const r = reader(out);
        const m = await start(f, { runtime, stdout: out, startFifo: viaFifo ? execFifo : join(f.dir, 'no-such-fifo') });
        expect(existsSync(execFifo)).toBe(true);
        expect((await f.state()).status).toBe('created');
        const before = recorded().length;
        await m.client.start();
        expect(await r.done).toBe('started\n');
        expect((await m.client.wait()).exit.status).toBe(0);
        // runc reads a container without its exec FIFO as started
        expect(existsSync(execFifo)).toBe(false);
        expect(
          recorded()
            .slice(before)
            .some((l) => / start /.test(` ${l} `)),
        ).toBe(!viaFifo);
        await expect(m.client.start()).rejects.toThrow(/OCI runtime start failed: process exited/);
        await m.client.release();
      }
    },
  );

  itAsRoot('on `release delete` deletes the container it created and unmounts the rootfs it was given before it answers', async () => {
    const f = await fixture({ args: ['true'] });
    const mnt = join(f.dir, 'mnt');
    mkdirSync(mnt);
    expect(spawnSync('mount', ['-t', 'tmpfs', 'tmpfs', mnt]).status).toBe(0);
    cleanups.push(() => spawnSync('umount', [mnt]));
    const m = await start(f, { rootfs: mnt });
    await m.client.start();
    expect((await m.client.wait()).exit.status).toBe(0);
    expect((await f.state()).status).toBe('stopped');
    expect(await m.client.request('release frobnicate')).toMatch(/^error usage/);
    await m.client.release(true);
    expect((await f.runc(['state', f.id])).code).not.toBe(0); // gone from the runtime
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(` ${mnt} `);
    await until('the monitor to exit', () => !alive(m.monitorPid));
    expect(existsSync(m.socket)).toBe(false);
  });

  itAsRoot("gives the process its stdin FIFO, ended when the client closes it (as containerd's shim does)", async () => {
    const f = await fixture({ args: ['sh', '-c', 'cat; echo eof'] });
    const stdin = fifo(f, 'in');
    const out = fifo(f, 'out');
    const r = reader(out);
    const m = await start(f, { stdin, stdout: out });
    await f.mustRunc(['start', f.id]);
    // nobody has opened the FIFO yet: that is not the end of stdin
    await sleep(200);
    expect((await m.client.state()).state).toBe('running');
    const w = openSync(stdin, C.O_WRONLY | C.O_NONBLOCK);
    writeSync(w, 'hello\n');
    closeSync(w);
    expect((await m.client.wait()).exit.status).toBe(0);
    expect(await r.done).toBe('hello\neof\n');
    await m.client.release();
  });

  itAsRoot('close-stdin ends the stdin of a process whose client still holds the FIFO', async () => {
    const f = await fixture({ args: ['sh', '-c', 'cat; echo eof'] });
    const stdin = fifo(f, 'in');
    const out = fifo(f, 'out');
    const r = reader(out);
    const m = await start(f, { stdin, stdout: out });
    await f.mustRunc(['start', f.id]);
    const w = openSync(stdin, C.O_WRONLY | C.O_NONBLOCK);
    try {
      writeSync(w, 'last\n');
      await until('the echo', () => r.text() === 'last\n');
      await m.client.closeStdin(); // what was written before still arrives, then EOF
      expect((await m.client.wait()).exit.status).toBe(0);
    } finally {
      closeSync(w);
    }
    expect(await r.done).toBe('last\neof\n');
    await m.client.release();
  });

  itAsRoot('a reader that goes away never gives the process EPIPE, and a new one gets what follows', async () => {
    const f = await fixture({ args: ['sh', '-c', 'i=0; while [ $i -lt 30 ]; do echo line$i; i=$((i+1)); sleep 0.05; done'] });
    const out = fifo(f, 'out');
    const first = reader(out);
    const m = await start(f, { stdout: out });
    await f.mustRunc(['start', f.id]);
    await until('a few lines', () => first.text().includes('line3\n'));
    first.proc.kill('SIGKILL');
    await first.done;
    await sleep(300);
    const second = reader(out);
    const { exit } = await m.client.wait();
    expect(exit.status).toBe(0); // not 141 (SIGPIPE)
    const text = await second.done;
    expect(text).toMatch(/line29\n$/);
    expect(text).not.toContain('line0\n');
    await m.client.release();
  });

  itAsRoot('stops reading a stream whose FIFO is full (bounded memory) and delivers all of it to a late reader', async () => {
    const size = 64 * 1024 * 512;
    const f = await fixture({ args: ['sh', '-c', `dd if=/dev/zero bs=65536 count=512 2>/dev/null; echo written >&2`] });
    const out = fifo(f, 'out');
    const err = fifo(f, 'err');
    const errReader = reader(err);
    const m = await start(f, { stdout: out, stderr: err });
    await f.mustRunc(['start', f.id]);
    await sleep(1000);
    expect((await m.client.state()).state).toBe('running'); // blocked on its pipe
    expect(errReader.text()).toBe('');
    const used = pss(m.monitorPid);
    console.log(`berth-monitor PSS with a blocked 32 MiB writer: ${Math.round(used / 1024)} KiB`);
    if (!sanitized) expect(used).toBeLessThan(1024 * 1024);

    const count = spawn('sh', ['-c', `wc -c < ${out}`], { stdio: ['ignore', 'pipe', 'ignore'] });
    cleanups.push(() => count.kill('SIGKILL'));
    let counted = '';
    count.stdout.setEncoding('utf8').on('data', (d: string) => (counted += d));
    const counting = new Promise((r) => count.once('close', r));
    expect((await m.client.wait()).exit.status).toBe(0);
    await counting;
    expect(Number(counted.trim())).toBe(size);
    expect(await errReader.done).toBe('written\n');
    await m.client.release();
  });

  itAsRoot('gives a descendant holding the output 1 s, and reaps the orphans of a container in the host pid namespace', async () => {
    const f = await fixture({ args: ['sh', '-c', '(sleep 2; echo late) & echo early'] });
    // no pid namespace: the background sleep outlives sh and is re-parented to the monitor
    const config = JSON.parse(readFileSync(join(f.bundle, 'config.json'), 'utf8'));
    config.linux.namespaces = config.linux.namespaces.filter((n: { type: string }) => n.type !== 'pid');
    writeFileSync(join(f.bundle, 'config.json'), JSON.stringify(config));
    const out = fifo(f, 'out');
    const r = reader(out);
    const m = await start(f, { stdout: out });
    const children = () => readFileSync(`/proc/${m.monitorPid}/task/${m.monitorPid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    await f.mustRunc(['start', f.id]);
    const started = Date.now();
    expect((await m.client.wait()).exit.status).toBe(0);
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(900);
    expect(waited).toBeLessThan(1900);
    expect(await r.done).toBe('early\n'); // the copy stopped: the reader saw EOF
    const orphan = Number(children()[0]);
    expect(readFileSync(`/proc/${orphan}/cmdline`, 'utf8')).toContain('sleep');
    await until('the orphan to be reaped', () => children().length === 0 && !alive(orphan));
    await m.client.release();
  });

  itAsRoot('runs a terminal: the pty master copied to and from the FIFOs, resizable', async () => {
    const f = await fixture({ args: ['sh', '-c', 'stty size; read line; echo got:$line'], terminal: true });
    const stdin = fifo(f, 'in');
    const out = fifo(f, 'out');
    const r = reader(out);
    const m = await start(f, { stdin, stdout: out, terminal: true });
    await m.client.resize(100, 40);
    await f.mustRunc(['start', f.id]);
    await until('stty', () => r.text().includes('40 100\r\n'));
    const w = openSync(stdin, C.O_WRONLY | C.O_NONBLOCK);
    writeSync(w, 'hi\n');
    closeSync(w);
    expect((await m.client.wait()).exit.status).toBe(0);
    expect(await r.done).toBe('40 100\r\nhi\r\ngot:hi\r\n'); // the pty echoes the input
    await expect(m.client.resize(80, 24)).rejects.toThrow(/resize/); // the master is gone after the exit
    await m.client.release();
  });

  itAsRoot('runs an exec (runc exec -d) into a running container', async () => {
    const f = await fixture({ args: ['sleep', '100'] });
    const initPid = await f.createAndStart();
    const dir = join(f.dir, 'exec1');
    mkdirSync(dir);
    const processJson = join(dir, 'process.json');
    const spec = JSON.parse(readFileSync(join(f.bundle, 'config.json'), 'utf8')).process;
    writeFileSync(processJson, JSON.stringify({ ...spec, args: ['sh', '-c', 'echo exec-out; exit 5'] }));
    const out = fifo(f, 'out');
    const r = reader(out);
    const m = await start(f, { bundle: undefined, exec: processJson, dir, stdout: out });
    expect(m.pid).not.toBe(initPid);
    const { exit } = await m.client.wait();
    expect(exit.status).toBe(5);
    expect(await readExit(dir)).toEqual(exit);
    expect(await r.done).toBe('exec-out\n');
    await m.client.release();
    expect(alive(initPid)).toBe(true);
  });

  itAsRoot('appends both streams to a file:// log', async () => {
    const f = await fixture({ args: ['sh', '-c', 'echo out; echo err >&2'] });
    const log = join(f.dir, 'logs', 'c.log');
    mkdirSync(join(f.dir, 'logs'));
    writeFileSync(log, 'before\n');
    const m = await start(f, { stdout: `file://${log}`, stderr: `file://${log}` });
    await f.mustRunc(['start', f.id]);
    await m.client.wait();
    expect(readFileSync(log, 'utf8')).toBe('before\nout\nerr\n');
    await m.client.release();
  });

  /** The records of a CRI-format log: [stream, tag, content], each timestamp checked. */
  const criRecords = (text: string) =>
    text
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z) (stdout|stderr) ([PF]) (.*)$/s.exec(line);
        expect(m, line).not.toBeNull();
        expect(Math.abs(Date.parse(m![1]!) - Date.now())).toBeLessThan(60_000);
        return [m![2]!, m![3]!, m![4]!] as const;
      });

  itAsRoot('writes a CRI-format log of both streams beside the FIFOs, partial lines tagged P', async () => {
    const f = await fixture({ args: ['sh', '-c', 'echo out1; printf "no newline"; echo err1 >&2; echo; echo out2'] });
    const out = fifo(f, 'out');
    const r = reader(out);
    const log = join(f.dir, 'c.log');
    const m = await start(f, { stdout: out, log: { path: log } });
    await f.mustRunc(['start', f.id]);
    await m.client.wait();
    expect(await r.done).toBe('out1\nno newline\nout2\n');
    const records = criRecords(readFileSync(log, 'utf8'));
    // what a reader of the format rebuilds: P records join the next record of their stream
    const lines = (stream: string) => {
      const done: string[] = [];
      let part = '';
      for (const [s, tag, text] of records) {
        if (s !== stream) continue;
        part += text;
        if (tag === 'F') {
          done.push(part);
          part = '';
        }
      }
      return done;
    };
    expect(lines('stdout')).toEqual(['out1', 'no newline', 'out2']);
    expect(lines('stderr')).toEqual(['err1']);
    await m.client.release();
  });

  itAsRoot('with a log and no FIFO the process never stalls on output nobody reads', async () => {
    const f = await fixture({ args: ['sh', '-c', 'head -c 300000 /dev/zero | tr "\\0" x; echo; echo done'] });
    const log = join(f.dir, 'c.log');
    const m = await start(f, { log: { path: log } });
    await f.mustRunc(['start', f.id]);
    const { exit } = await m.client.wait();
    expect(exit.status).toBe(0);
    const records = criRecords(readFileSync(log, 'utf8'));
    const text = records.map(([, , t]) => t).join('');
    expect({ length: text.length, tail: text.slice(-10) }).toEqual({ length: 300004, tail: 'xxxxxxdone' });
    // 16 KiB reads of one long line: partial records, then the end of the line
    expect(records.filter(([, tag]) => tag === 'P').length).toBeGreaterThan(0);
    expect(records.at(-1)).toEqual(['stdout', 'F', 'done']);
    await m.client.release();
  });

  itAsRoot('with max-line no record holds more of a line than that: the rest follows in partial records', async () => {
    const f = await fixture({ args: ['sh', '-c', 'echo abcdefghijklmnopqrstuvwxy; echo 0123456789; echo short'] });
    const log = join(f.dir, 'c.log');
    const m = await start(f, { log: { path: log, maxLine: 10 } });
    await f.mustRunc(['start', f.id]);
    await m.client.wait();
    expect(criRecords(readFileSync(log, 'utf8'))).toEqual([
      ['stdout', 'P', 'abcdefghij'],
      ['stdout', 'P', 'klmnopqrst'],
      ['stdout', 'F', 'uvwxy'],
      ['stdout', 'F', '0123456789'],
      ['stdout', 'F', 'short'],
    ]);
    await m.client.release();
  });

  itAsRoot('rotates the log past its size, keeping max-files in all, and reopens it on request', async () => {
    const f = await fixture({
      args: ['sh', '-c', 'i=0; while [ $i -lt 60 ]; do echo "line $i ................................"; i=$((i+1)); done; sleep 1; echo after'],
    });
    const log = join(f.dir, 'c.log');
    const m = await start(f, { log: { path: log, maxSize: 1000, maxFiles: 3 } });
    await f.mustRunc(['start', f.id]);
    // (once the 60 lines are written: while a rotation renames the files, one is missing for a moment)
    await until('the last line', () => existsSync(log) && readFileSync(log, 'utf8').includes('line 59 '));
    for (const p of [log, `${log}.1`, `${log}.2`]) expect(readFileSync(p).length).toBeLessThanOrEqual(1000);
    expect(existsSync(`${log}.3`)).toBe(false);
    // what kubelet does: move the file away, ask for a new one
    const { renameSync } = await import('node:fs');
    renameSync(log, `${log}.moved`);
    await m.client.reopenLog();
    await m.client.wait();
    expect(criRecords(readFileSync(log, 'utf8'))).toEqual([['stdout', 'F', 'after']]);
    expect(readFileSync(`${log}.moved`, 'utf8')).toContain('line 59 ');
    await m.client.release();
  });

  itAsRoot('refuses a log beside a file:// stdout, and reopen-log without a log', async () => {
    const f = await fixture({ args: ['true'] });
    await expect(
      start(f, { stdout: `file://${join(f.dir, 'x')}`, stderr: `file://${join(f.dir, 'x')}`, log: { path: join(f.dir, 'c.log') } }),
    ).rejects.toMatchObject({
      code: 'InvalidArgument',
      message: expect.stringContaining('a log path goes with FIFOs or no stdout'),
    });
    const m = await start(f, {});
    await expect(m.client.reopenLog()).rejects.toThrow('monitor: reopen-log: no log');
    await f.mustRunc(['start', f.id]);
    await m.client.wait();
    await m.client.release();
  });

  itAsRoot('starts a binary:// logging binary on containerd’s contract', async () => {
    const f = await fixture({ args: ['sh', '-c', 'echo out; echo err >&2'] });
    const logger = join(f.dir, 'logger.sh');
    const base = join(f.dir, 'logged');
    writeFileSync(logger, '#!/bin/sh\necho "$1 $CONTAINER_ID $CONTAINER_NAMESPACE" > "$2.env"\nexec 5>&-\ncat <&3 > "$2.out" &\ncat <&4 > "$2.err"\nwait\n', {
      mode: 0o755,
    });
    const m = await start(f, { stdout: `binary://${logger}?path=${encodeURIComponent(base)}`, namespace: 'ns1' });
    await f.mustRunc(['start', f.id]);
    await m.client.wait(); // waits for the logger to finish with the output
    expect(readFileSync(`${base}.env`, 'utf8')).toBe(`path ${f.id} ns1\n`);
    expect(readFileSync(`${base}.out`, 'utf8')).toBe('out\n');
    expect(readFileSync(`${base}.err`, 'utf8')).toBe('err\n');
    await m.client.release();
  });

  itAsRoot('a failed create is a clear error and leaves nothing behind', async () => {
    const f = await fixture({ args: ['true'] });
    const socket = join(f.dir, 'failed.sock');
    const start = startMonitor({ id: f.id, runtime: f.binary, runtimeArgs: ['--root', f.root], dir: f.dir, socket, bundle: join(f.dir, 'nope'), binary });
    await expect(start).rejects.toMatchObject({ code: 'FailedPrecondition', message: expect.stringMatching(/nope.*no such file/) });
    expect(existsSync(socket)).toBe(false);
    expect(existsSync(join(f.dir, 'monitor.pid'))).toBe(false);
    const monitors = readdirSync('/proc').filter((p) => /^\d+$/.test(p) && isMonitor(Number(p)));
    for (const p of monitors) expect(readFileSync(`/proc/${p}/cmdline`, 'utf8')).not.toContain(socket);

    await expect(startMonitor({ id: f.id, runtime: f.binary, dir: f.dir, socket, bundle: f.bundle, binary: join(f.dir, 'no-monitor') })).rejects.toMatchObject({
      code: 'FailedPrecondition',
      message: expect.stringMatching(/ENOENT/),
    });
    await expect(startMonitor({ id: f.id, runtime: f.binary, dir: f.dir, socket: `/tmp/${'s'.repeat(120)}`, bundle: f.bundle, binary })).rejects.toMatchObject({
      code: 'InvalidArgument',
      message: expect.stringMatching(/longer than a unix socket path may be/),
    });
    const usage = spawnSync(binary, ['--id', 'x', '--bogus', 'y']);
    expect(usage.status).toBe(2);
    expect(usage.stderr.toString()).toContain('unknown flag --bogus');
    await expect(startMonitor({ id: f.id, runtime: f.binary, dir: f.dir, socket, bundle: f.bundle, stdout: 'ftp://x/y', binary })).rejects.toMatchObject({
      code: 'InvalidArgument',
    });
  });

  itAsRoot('a SIGKILLed monitor leaves its container running', async () => {
    const f = await fixture({ args: ['sleep', '100'] });
    const m = await start(f);
    await f.mustRunc(['start', f.id]);
    process.kill(m.monitorPid, 'SIGKILL');
    await until('the monitor to die', () => !alive(m.monitorPid));
    await expect(m.client.state()).rejects.toThrow(/monitor gone/);
    expect((await f.state()).status).toBe('running');
    expect(alive(m.pid)).toBe(true);
  });

  itAsRoot('a control line that is too long closes only its own connection', async () => {
    const f = await fixture({ args: ['sleep', '100'] });
    const m = await start(f);
    const other = await raw(m.socket);
    const long = await raw(m.socket);
    const closed = new Promise((r) => long.once('close', r));
    long.write('x'.repeat(300));
    await closed;
    const answer = new Promise<string>((r) => other.setEncoding('utf8').once('data', r));
    other.write('state\n');
    expect(await answer).toBe(`running ${m.pid}\n`);
    expect(await m.client.request(`state${' '.repeat(0)}`)).toBe(`running ${m.pid}`);
  });

  itAsRoot('costs less than 1 MB of PSS', async () => {
    const f = await fixture({ args: ['sleep', '100'] });
    const stdin = fifo(f, 'in');
    const out = fifo(f, 'out');
    const err = fifo(f, 'err');
    const m = await start(f, { stdin, stdout: out, stderr: err });
    await f.mustRunc(['start', f.id]);
    await m.client.state();
    const used = pss(m.monitorPid);
    console.log(`berth-monitor PSS (sleep, three FIFOs): ${Math.round(used / 1024)} KiB`);
    if (!sanitized) expect(used).toBeLessThan(1024 * 1024);
  });
});
