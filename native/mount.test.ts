// mount(8)/umount(8) helpers; needs root (as the daemon does). Everything is mounted under one
// temporary directory, unmounted and removed when the suite ends, even after a failure.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { MS_NODEV, MS_NOSUID, MS_RDONLY } from './index.ts';
import { compactLowerdir, directOverlay, isMountPoint, mountAll, unmountAll } from './mount.ts';

const base = mkdtempSync('/tmp/berth-mount-');
const targets: string[] = [];
let n = 0;

/** A fresh directory; mount targets are remembered to be unmounted after each test. */
function dir(name: string, opts: { target?: boolean } = {}): string {
  const d = join(base, `${n++}-${name}`);
  mkdirSync(d, { recursive: true });
  if (opts.target) targets.push(d);
  return d;
}

afterEach(async () => {
  for (const t of targets.splice(0)) await unmountAll(t);
});
afterAll(async () => {
  for (const t of targets.splice(0)) await unmountAll(t);
  rmSync(base, { recursive: true, force: true });
});

describe('compactLowerdir', () => {
  it('makes the lowerdirs relative to their deepest common ancestor and moves lowerdir last', () => {
    const r = compactLowerdir(['index=off', 'lowerdir=/r/snapshots/12/fs:/r/snapshots/3/fs:/r/snapshots/1/fs', 'upperdir=/r/snapshots/13/fs']);
    expect(r).toEqual({ cwd: '/r/snapshots', options: ['index=off', 'upperdir=/r/snapshots/13/fs', 'lowerdir=12/fs:3/fs:1/fs'] });
  });

  it('keeps the common directory a proper ancestor of every lowerdir', () => {
    expect(compactLowerdir(['lowerdir=/r/s/1:/r/s/1/x'])).toEqual({ cwd: '/r/s', options: ['lowerdir=1:1/x'] });
  });

  it('leaves options alone with one lowerdir, no common ancestor but /, or no lowerdir', () => {
    expect(compactLowerdir(['lowerdir=/a/b/c'])).toEqual({ options: ['lowerdir=/a/b/c'] });
    expect(compactLowerdir(['lowerdir=/a/x:/b/y'])).toEqual({ options: ['lowerdir=/a/x:/b/y'] });
    expect(compactLowerdir(['ro', 'rbind'])).toEqual({ options: ['ro', 'rbind'] });
  });
});

describe('directOverlay', () => {
  it('turns flag words into flags and keeps the rest as overlayfs data, in order', () => {
    const m = {
      type: 'overlay',
      source: 'overlay',
      options: ['index=off', 'workdir=/w', 'upperdir=/u', 'lowerdir=/a:/b', 'nosuid', 'nodev', 'ro', 'userxattr'],
    };
    expect(directOverlay(m)).toEqual({ flags: MS_NOSUID | MS_NODEV | MS_RDONLY, data: 'index=off,workdir=/w,upperdir=/u,lowerdir=/a:/b,userxattr' });
    expect(directOverlay({ ...m, options: ['ro', 'rw', 'lowerdir=/a'] })).toEqual({ flags: 0, data: 'lowerdir=/a' });
  });

  it('leaves to mount(8) what it does not know, other types, and options that need compacting', () => {
    expect(directOverlay({ type: 'overlay', source: 'overlay', options: ['lowerdir=/a', 'x-systemd.automount'] })).toBeUndefined();
    expect(directOverlay({ type: 'bind', source: '/a', options: ['rbind', 'ro'] })).toBeUndefined();
    expect(directOverlay({ type: 'overlay', source: 'overlay', options: [`lowerdir=${'/x'.repeat(2000)}`] })).toBeUndefined();
  });

  it('mounts read-only when asked', async () => {
    const lower = dir('lower');
    writeFileSync(join(lower, 'f'), 'x');
    const t = dir('ro-overlay', { target: true });
    await mountAll([{ type: 'overlay', source: 'overlay', options: [`lowerdir=${lower}:${dir('lower2')}`, 'ro'] }], t);
    expect(readFileSync(join(t, 'f'), 'utf8')).toBe('x');
    expect(() => writeFileSync(join(t, 'g'), 'x')).toThrow(/EROFS/);
    await unmountAll(t);
    expect(await isMountPoint(t)).toBe(false);
  });
});

describe('mountAll / unmountAll', () => {
  it('binds read-only and read-write as containerd mounts say', async () => {
    const src = dir('src');
    writeFileSync(join(src, 'f'), 'hello');
    const ro = dir('ro', { target: true });
    await mountAll([{ type: 'bind', source: src, options: ['ro', 'rbind'] }], ro);
    expect(await isMountPoint(ro)).toBe(true);
    expect(readFileSync(join(ro, 'f'), 'utf8')).toBe('hello');
    expect(() => writeFileSync(join(ro, 'g'), 'x')).toThrow(/EROFS/);
    const rw = dir('rw', { target: true });
    await mountAll([{ type: 'bind', source: src, options: ['rbind', 'rw'] }], rw);
    writeFileSync(join(rw, 'g'), 'x');
    expect(readFileSync(join(src, 'g'), 'utf8')).toBe('x');
    await unmountAll(ro);
    await unmountAll(rw);
    expect(await isMountPoint(ro)).toBe(false);
    expect(await isMountPoint(rw)).toBe(false);
  });

  it('unmounts stacked mounts, and is a no-op on a plain or missing directory', async () => {
    const a = dir('a');
    const b = dir('b');
    writeFileSync(join(b, 'top'), '');
    const t = dir('stack', { target: true });
    await mountAll(
      [
        { type: 'bind', source: a, options: ['rbind', 'rw'] },
        { type: 'bind', source: b, options: ['rbind', 'ro'] },
      ],
      t,
    );
    expect(readdirSync(t)).toEqual(['top']);
    await unmountAll(t);
    expect(await isMountPoint(t)).toBe(false);
    await unmountAll(t);
    await unmountAll(join(base, 'never-made'));
  });

  it('leaves nothing mounted when a later mount fails', async () => {
    const a = dir('a');
    const t = dir('partial', { target: true });
    const bad = [
      { type: 'bind', source: a, options: ['rbind', 'rw'] },
      { type: 'bind', source: join(base, 'does-not-exist'), options: ['rbind', 'ro'] },
    ];
    await expect(mountAll(bad, t)).rejects.toThrow(/\/bin\/mount/);
    expect(await isMountPoint(t)).toBe(false);
  });

  it('mounts an overlay of 128 layers whose options exceed a page, newest layer on top', async () => {
    // long paths, as under a real root: 128 of them are far more than 4096 bytes
    const layers = dir('a-directory-with-a-rather-long-name-as-roots-tend-to-have/io.berth.snapshotter.v1.overlayfs/snapshots');
    const lower: string[] = [];
    for (let i = 1; i <= 128; i++) {
      const fs = join(layers, String(i), 'fs');
      mkdirSync(fs, { recursive: true });
      writeFileSync(join(fs, `layer-${i}`), String(i));
      writeFileSync(join(fs, 'shared'), String(i));
      lower.unshift(fs); // topmost first
    }
    const upper = dir('upper');
    const work = dir('work');
    const options = ['index=off', `workdir=${work}`, `upperdir=${upper}`, `lowerdir=${lower.join(':')}`];
    expect(options.join(',').length).toBeGreaterThan(4096);
    const t = dir('merged', { target: true });
    await mountAll([{ type: 'overlay', source: 'overlay', options }], t);
    expect(readdirSync(t).filter((f) => f.startsWith('layer-'))).toHaveLength(128);
    expect(readFileSync(join(t, 'shared'), 'utf8')).toBe('128');
    expect(readFileSync(join(t, 'layer-1'), 'utf8')).toBe('1');
    writeFileSync(join(t, 'written'), 'up');
    expect(readFileSync(join(upper, 'written'), 'utf8')).toBe('up');
    expect(existsSync(join(lower[0]!, 'written'))).toBe(false);
    await unmountAll(t);
    expect(await isMountPoint(t)).toBe(false);
  });

  it('refuses options that stay too long after compaction', async () => {
    const t = dir('too-long', { target: true });
    const lower = Array.from({ length: 600 }, (_, i) => `/x${i % 2}/${'d'.repeat(10)}`);
    await expect(mountAll([{ type: 'overlay', source: 'overlay', options: [`lowerdir=${lower.join(':')}`] }], t)).rejects.toThrow(/too long/);
  });
});
