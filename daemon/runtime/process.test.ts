import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { spawnProcess, waitidPeek, waitpid } from '../../native/index.ts';
import { isRunning, processStart } from './process.ts';

describe('processStart (how a dead shim is told from a reused pid)', () => {
  it("is a process's start time, the same on every look, also with spaces and parentheses in its name", async () => {
    const dir = mkdtempSync('/tmp/berth-pstart-');
    const odd = join(dir, 'a) 1 2 (b');
    symlinkSync('/bin/sleep', odd);
    const child = spawn(odd, ['5'], { stdio: 'ignore' });
    try {
      await new Promise((r) => child.once('spawn', r));
      const start = processStart(child.pid!);
      expect(start).toMatch(/^\d+$/);
      expect(processStart(child.pid!)).toBe(start);
      expect(processStart(process.pid)).toMatch(/^\d+$/);
      expect(Number(processStart(process.pid))).toBeLessThanOrEqual(Number(start));
    } finally {
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    }
    // exited and reaped: nothing to read
    expect(processStart(child.pid!)).toBeUndefined();
  });
});

describe('isRunning', () => {
  it('is false for a process that has exited but is not reaped yet (a zombie), as processStart is undefined for it', async () => {
    const pid = spawnProcess('/bin/sleep', ['sleep', '0.1'], []);
    expect(isRunning(pid)).toBe(true);
    expect(processStart(pid)).toMatch(/^\d+$/);
    try {
      for (let i = 0; i < 50 && waitidPeek()?.pid !== pid; i++) await new Promise((r) => setTimeout(r, 20));
      expect(waitidPeek()?.pid).toBe(pid);
      expect(isRunning(pid)).toBe(false);
      expect(processStart(pid)).toBeUndefined();
    } finally {
      waitpid(pid, false);
    }
    expect(isRunning(0)).toBe(false);
  });
});
