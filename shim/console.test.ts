// ConsoleSocket and Pty against the real runc: a busybox `sh` on a terminal.
import { existsSync } from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { setChildSubreaper, waitpid } from '../native/index.ts';
import { RuncFixture } from '../test/support/runc-fixture.ts';
import { ConsoleSocket, Pty } from './console.ts';

const fixtures: RuncFixture[] = [];
afterEach(async () => {
  for (const f of fixtures.splice(0)) await f.cleanup();
});

// The container's init is re-parented to us when `runc create` exits: reap it for its status.
beforeAll(() => setChildSubreaper());

/** Collects a stream's text; `until(s)` resolves when the text so far contains s. */
function collect(stream: NodeJS.ReadableStream) {
  let text = '';
  let ended = false;
  const waiters: Array<() => void> = [];
  stream.on('data', (d: Buffer) => {
    text += d.toString('utf8');
    for (const w of waiters.splice(0)) w();
  });
  stream.on('end', () => {
    ended = true;
    for (const w of waiters.splice(0)) w();
  });
  const wait = (ok: () => boolean, what: string, ms = 10_000) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(text)}`)), ms);
      const check = () => {
        if (ok()) {
          clearTimeout(timer);
          resolve();
        } else waiters.push(check);
      };
      check();
    });
  return {
    get text() {
      return text;
    },
    until: (s: string) => wait(() => text.includes(s), JSON.stringify(s)),
    ended: () => wait(() => ended, 'the end of output'),
  };
}

async function reap(pid: number, ms = 10_000) {
  const end = Date.now() + ms;
  for (;;) {
    const r = waitpid(pid);
    if (r) return r;
    if (Date.now() > end) throw new Error(`pid ${pid} did not exit`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('ConsoleSocket + Pty with runc', () => {
  it('runs an interactive sh: output, input, resize, exit status, end at hang-up', async () => {
    const f = await RuncFixture.create({ args: ['sh'], terminal: true });
    fixtures.push(f);
    const sockPath = join(f.dir, 'console.sock');
    const cs = ConsoleSocket.listen(sockPath);
    expect(cs.path).toBe(sockPath);
    expect(existsSync(sockPath)).toBe(true);
    try {
      const [created, master] = await Promise.all([f.runc(['create', '--console-socket', sockPath, '--bundle', f.bundle, f.id]), cs.receiveMaster()]);
      expect(created.stderr).toBe('');
      expect(created.code).toBe(0);
      expect(existsSync(sockPath)).toBe(false);
      const pty = new Pty(master);
      const out = collect(pty.output);
      const { pid } = await f.state();
      await f.mustRunc(['start', f.id]);

      // The terminal echoes input; the quotes keep the echo from matching "hello".
      pty.input.write("echo hel''lo\n");
      await out.until('hello\r\n');

      pty.resize(100, 40);
      pty.input.write('stty size\n');
      await out.until('40 100');

      pty.input.write('exit 7\n');
      await out.ended();
      expect(await reap(pid)).toEqual({ pid, exitCode: 7, signal: null });
      pty.close();
      pty.resize(10, 10); // ignored once closed
      pty.input.write('dropped\n');
    } finally {
      cs.close();
    }
  });

  it('hangs up the container when the master is closed', async () => {
    const f = await RuncFixture.create({ args: ['sh'], terminal: true });
    fixtures.push(f);
    const sockPath = join(f.dir, 'console.sock');
    const cs = ConsoleSocket.listen(sockPath);
    const [, master] = await Promise.all([f.mustRunc(['create', '--console-socket', sockPath, '--bundle', f.bundle, f.id]), cs.receiveMaster()]);
    const pty = new Pty(master);
    const { pid } = await f.state();
    await f.mustRunc(['start', f.id]);
    pty.close();
    // sh, as pid 1 of its namespace, ignores the SIGHUP; it exits on reading the hung-up tty
    const r = await reap(pid);
    expect(r.pid).toBe(pid);
  });
});

describe('Pty', () => {
  it('never blocks the event loop on input the container does not read', async () => {
    const f = await RuncFixture.create({ args: ['sleep', '30'], terminal: true });
    fixtures.push(f);
    const sockPath = join(f.dir, 'console.sock');
    const cs = ConsoleSocket.listen(sockPath);
    const [, master] = await Promise.all([f.mustRunc(['create', '--console-socket', sockPath, '--bundle', f.bundle, f.id]), cs.receiveMaster()]);
    const pty = new Pty(master);
    pty.output.resume();
    await f.mustRunc(['start', f.id]);
    // A tty buffers a few KiB of unread input; 1 MiB would block a blocking write for good.
    const started = Date.now();
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 10);
    const chunk = Buffer.alloc(64 * 1024, 'x');
    for (let i = 0; i < 16; i++) pty.input.write(chunk);
    await new Promise((r) => setTimeout(r, 300));
    clearInterval(ticker);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(ticks).toBeGreaterThan(5);
    pty.close();
  });
});

describe('ConsoleSocket', () => {
  it('rejects receiveMaster on close() and removes the socket file', async () => {
    const f = await RuncFixture.create({ args: ['true'] });
    fixtures.push(f);
    const cs = ConsoleSocket.listen(join(f.dir, 'c.sock'));
    const p = cs.receiveMaster();
    cs.close();
    await expect(p).rejects.toThrow(/closed/);
    expect(existsSync(cs.path)).toBe(false);
    cs.close(); // idempotent
  });

  it('ignores a connection that sends no descriptor and keeps waiting', async () => {
    const f = await RuncFixture.create({ args: ['true'] });
    fixtures.push(f);
    const cs = ConsoleSocket.listen(join(f.dir, 'c.sock'));
    const c = net.connect(cs.path);
    await new Promise((r) => c.once('connect', r));
    c.end('not a descriptor');
    await new Promise((r) => c.once('close', r));
    let settled = false;
    cs.receiveMaster().then(
      () => (settled = true),
      () => (settled = true),
    );
    await new Promise((r) => setTimeout(r, 200));
    expect(settled).toBe(false);
    expect(existsSync(cs.path)).toBe(true);
    cs.close();
  });

  it('replaces a stale socket file, and rejects when it cannot listen', async () => {
    const f = await RuncFixture.create({ args: ['true'] });
    fixtures.push(f);
    const path = join(f.dir, 'c.sock');
    const a = ConsoleSocket.listen(path);
    a.close();
    const stale = net.createServer().listen(path);
    await new Promise((r) => stale.once('listening', r));
    // a crashed shim leaves the file behind; simulate by closing the server without unlink
    const b = ConsoleSocket.listen(path);
    expect(existsSync(path)).toBe(true);
    b.close();
    stale.close();
    const bad = ConsoleSocket.listen(join(f.dir, 'no', 'such', 'dir', 'c.sock'));
    await expect(bad.receiveMaster()).rejects.toThrow(/listen E[A-Z]+/);
  });
});
