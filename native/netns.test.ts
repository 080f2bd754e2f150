// createNetns/removeNetns against the real kernel: needs root (unshare(CLONE_NEWNET), mount).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect } from 'vitest';
import { describeAsRoot, installed, itAsRoot } from '../test/support/root.ts';
import { createNetns, removeNetns } from './netns.ts';

const base = mkdtempSync('/tmp/berth-netns-');
let n = 0;
const made: string[] = [];

/** A fresh path in the temp dir, removed (unmounted) after the suite. */
function nsPath(): string {
  const p = join(base, `ns${n++}`);
  made.push(p);
  return p;
}

afterAll(() => {
  for (const p of made) removeNetns(p);
  rmSync(base, { recursive: true, force: true });
});

/** The filesystem types mounted on path in this process's mount table (none: []). */
function mountsAt(path: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' '))
    .filter((fields) => fields[4] === path)
    .map((fields) => fields[fields.indexOf('-') + 1]!);
}

const nsfsMountedAt = (path: string) => mountsAt(path).includes('nsfs');

describeAsRoot('createNetns', [installed('nsenter'), installed('ip')], () => {
  itAsRoot('binds a new network namespace on a new 0444 file, leaving the caller in its own', () => {
    const before = statSync('/proc/self/ns/net').ino;
    const threadBefore = statSync('/proc/thread-self/ns/net').ino;
    const p = nsPath();
    createNetns(p);
    const st = statSync(p);
    expect(nsfsMountedAt(p)).toBe(true);
    expect(st.ino).not.toBe(before);
    expect(st.mode & 0o777).toBe(0o444);
    expect(statSync('/proc/self/ns/net').ino).toBe(before);
    expect(statSync('/proc/thread-self/ns/net').ino).toBe(threadBefore);

    const r = spawnSync('nsenter', [`--net=${p}`, 'ip', '-br', 'link'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => l.split(/\s+/)[0]),
    ).toEqual(['lo']);
  });

  itAsRoot('makes a different namespace each time', () => {
    const a = nsPath();
    const b = nsPath();
    createNetns(a);
    createNetns(b);
    expect(statSync(a).ino).not.toBe(statSync(b).ino);
  });

  itAsRoot('refuses an existing file (EEXIST) and leaves it alone', () => {
    const p = nsPath();
    writeFileSync(p, 'mine');
    expect(() => createNetns(p)).toThrow(expect.objectContaining({ code: 'EEXIST', syscall: 'open', path: p }));
    expect(readFileSync(p, 'utf8')).toBe('mine');
    expect(nsfsMountedAt(p)).toBe(false);
  });

  itAsRoot('fails with ENOENT for a missing parent directory, leaving nothing', () => {
    const p = join(base, 'missing', 'ns');
    expect(() => createNetns(p)).toThrow(expect.objectContaining({ code: 'ENOENT', errno: -2 }));
    expect(existsSync(p)).toBe(false);
  });

  itAsRoot('rejects a path that is not a string or bytes', () => {
    expect(() => createNetns(42 as unknown as string)).toThrow(TypeError);
  });
});

describeAsRoot('removeNetns', () => {
  itAsRoot('unmounts and removes the file', () => {
    const p = nsPath();
    createNetns(p);
    expect(mountsAt(p)).toEqual(['nsfs']);
    removeNetns(p);
    expect(existsSync(p)).toBe(false);
    expect(mountsAt(p)).toEqual([]);
  });

  itAsRoot('is fine with a path that is gone, or a plain file that is not a mount', () => {
    const p = nsPath();
    removeNetns(p);
    writeFileSync(p, '');
    removeNetns(p);
    expect(existsSync(p)).toBe(false);
  });
});
