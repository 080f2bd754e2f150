// watchOom against a real OOM kill: a runc container limited to 16 MiB whose init (busybox
// tail on /dev/zero, which buffers an endless line) the kernel kills; and against a fake
// cgroup v2 memory.events.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { setChildSubreaper, waitpid } from '../../native/index.ts';
import { RuncFixture } from '../../test/support/runc-fixture.ts';
import { isUnifiedHost } from './metrics.ts';
import { watchOom } from './oom.ts';

const fixtures: RuncFixture[] = [];
afterEach(async () => {
  for (const f of fixtures.splice(0)) await f.cleanup();
});
const scratch = mkdtempSync(join(tmpdir(), 'berth-oom-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
beforeAll(() => setChildSubreaper());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function reap(pid: number, ms = 20_000) {
  const end = Date.now() + ms;
  for (;;) {
    const r = waitpid(pid);
    if (r) return r;
    if (Date.now() > end) throw new Error(`pid ${pid} did not exit`);
    await sleep(20);
  }
}

describe('watchOom', () => {
  it.skipIf(isUnifiedHost())('sees the kernel OOM-kill a runc container’s init (cgroup v1)', async () => {
    const f = await RuncFixture.create({ args: ['tail', '/dev/zero'], memoryLimit: 16 << 20 });
    fixtures.push(f);
    // create first, so the cgroup exists when the watchers start
    const log = join(f.dir, 'runc.log');
    const created = await f.runc(['--log', log, 'create', '--bundle', f.bundle, f.id], ['ignore', 'ignore', 'ignore']);
    expect(created.code).toBe(0);
    const { pid } = await f.state();
    let timerCalls = 0;
    const timed = watchOom(f.cgroupsPath, () => timerCalls++, { intervalMs: 100 });
    let checkCalls = 0;
    const polled = watchOom(f.cgroupsPath, () => checkCalls++, { intervalMs: 3_600_000 });
    try {
      expect(polled.check()).toBe(false);
      await f.mustRunc(['start', f.id]);
      const exit = await reap(pid);
      expect(exit).toEqual({ pid, exitCode: null, signal: 9 });
      // the task's path: check() when init exits
      expect(polled.check()).toBe(true);
      expect(checkCalls).toBe(1);
      expect(polled.check()).toBe(false);
      expect(checkCalls).toBe(1);
      // the timer's path
      const end = Date.now() + 5000;
      while (timerCalls === 0 && Date.now() < end) await sleep(20);
      expect(timerCalls).toBe(1);
      await sleep(300);
      expect(timerCalls).toBe(1);
    } finally {
      timed.close();
      polled.close();
    }
  });

  it('does not fire for a healthy container, nor after close(), nor for a missing cgroup', async () => {
    const w = watchOom('/berthtest/no-such-container', () => {
      throw new Error('unexpected');
    });
    expect(w.check()).toBe(false);
    w.close();
    expect(w.check()).toBe(false);
  });

  it('watches memory.events on cgroup v2 (inotify, without waiting for the timer)', async () => {
    const mount = join(scratch, 'v2');
    const dir = join(mount, 'default', 'c1');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(mount, 'cgroup.controllers'), 'memory\n');
    const events = (n: number) => writeFileSync(join(dir, 'memory.events'), `low 0\nhigh 0\nmax 3\noom ${n}\noom_kill ${n}\n`);
    events(2); // kills before the watch started do not count
    let calls = 0;
    const w = watchOom('/default/c1', () => calls++, { mount, intervalMs: 3_600_000 });
    try {
      expect(w.check()).toBe(false);
      events(3);
      const end = Date.now() + 5000;
      while (calls === 0 && Date.now() < end) await sleep(10);
      expect(calls).toBe(1);
      expect(w.check()).toBe(false);
      events(5);
      expect(w.check()).toBe(true);
      expect(calls).toBe(2);
      w.close();
      events(6);
      await sleep(100);
      expect(w.check()).toBe(false);
      expect(calls).toBe(2);
    } finally {
      w.close();
    }
  });
});
