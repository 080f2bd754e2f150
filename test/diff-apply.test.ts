import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { applyLayer } from '../daemon/diff/apply.ts';
import { type CompareOptions, diffStream } from '../daemon/diff/compare.ts';
import { lgetxattr, lsetxattr } from '../native/index.ts';
import { mountAll, unmountAll } from '../native/mount.ts';
import { applyTo, type Sandbox, sandbox } from './support/layers/sandbox.ts';
import { d, f, h, type RawEntry, s, tar } from './support/layers/tarbuild.ts';
import { copyTree, describeTree, sh } from './support/layers/tree.ts';

let sb: Sandbox | undefined;
const dirs: string[] = [];
afterEach(async () => {
  try {
    sb?.check();
  } finally {
    sb?.cleanup();
    sb = undefined;
    for (const dir of dirs.splice(0)) {
      await unmountAll(join(dir, 'merged')).catch(() => undefined);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
});

const tmp = () => {
  const dir = fs.mkdtempSync('/tmp/berth-diff-rt-');
  dirs.push(dir);
  return dir;
};

// security.capability v2 with cap_net_bind_service effective: binary, holds NUL bytes
const capability = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x04, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
const longName = `${'long-directory-name/'.repeat(8)}file`;
const longLink = `/${'x'.repeat(150)}`;

const everyType: RawEntry[] = [
  d('bin', { mode: 0o755, mtime: 1_000_000 }),
  d('tmp', { mode: 0o1777, mtime: 1_000_001 }),
  d('shared', { mode: 0o2775, uid: 1000, gid: 1001, mtime: 1_000_002 }),
  f('bin/su', 'suid binary', { mode: 0o4755, uid: 0, gid: 0, mtime: 1_500_000 }),
  f('bin/owned', 'sgid', { mode: 0o2750, uid: 1234, gid: 5678, mtime: 1_500_001 }),
  {
    name: 'bin/ping',
    type: '0',
    data: 'caps',
    mode: 0o755,
    pax: { 'SCHILY.xattr.security.capability': capability, 'SCHILY.xattr.user.note': Buffer.from('a\nb\0c'), mtime: '1600000000.5' },
  },
  // a hardlink entry's header applies to the shared inode (containerd too), so it repeats the target's
  h('bin/su2', 'bin/su', { mode: 0o4755, mtime: 1_500_000 }),
  s('bin/sh', '/bin/busybox', { uid: 1000, gid: 1001, mtime: 1_234_567 }),
  s('rel', '../../x'),
  { name: 'fifo', type: '6', mode: 0o600, uid: 3, gid: 4 },
  d('dev'),
  { name: 'dev/null', type: '3', mode: 0o666, devmajor: 1, devminor: 3 },
  { name: 'dev/big', type: '4', mode: 0o660, devmajor: 259, devminor: 70000 },
  { name: 'x', type: '0', data: 'long', pax: { path: longName } },
  { name: '././@LongLink', type: 'K', data: `${longLink}\0` },
  s('longlink', 'truncated-in-header'),
  { name: 'hardlink-with-size', type: '1', linkname: 'bin/owned', size: 0, mode: 0o2750, uid: 1234, gid: 5678, mtime: 1_500_001 },
];

describe('apply: every entry type', () => {
  it('reproduces modes, owners, times, xattrs, links, devices and FIFOs exactly', async () => {
    sb = sandbox();
    const layer = tar(everyType);
    const r = await applyTo(sb, everyType);
    expect(r.diffID).toBe(`sha256:${createHash('sha256').update(layer).digest('hex')}`);
    expect(r.size).toBe(layer.length);
    const st = (p: string) => fs.lstatSync(join(sb!.root, p));
    const mode = (p: string) => st(p).mode & 0o7777;
    expect(mode('bin')).toBe(0o755);
    expect(mode('tmp')).toBe(0o1777);
    expect(mode('shared')).toBe(0o2775);
    expect([st('shared').uid, st('shared').gid]).toEqual([1000, 1001]);
    expect(st('bin').mtimeMs).toBe(1_000_000_000);
    expect(st('tmp').mtimeMs).toBe(1_000_001_000);
    expect(mode('bin/su')).toBe(0o4755);
    expect(mode('bin/owned')).toBe(0o2750);
    expect([st('bin/owned').uid, st('bin/owned').gid]).toEqual([1234, 5678]);
    expect(st('bin/su').mtimeMs).toBe(1_500_000_000);
    expect(st('bin/ping').mtimeMs).toBe(1_600_000_000_500);
    expect(lgetxattr(join(sb.root, 'bin/ping'), 'security.capability')).toEqual(capability);
    expect(lgetxattr(join(sb.root, 'bin/ping'), 'user.note')).toEqual(Buffer.from('a\nb\0c'));
    expect(st('bin/su2').ino).toBe(st('bin/su').ino);
    expect(st('bin/su').nlink).toBe(2);
    expect(st('hardlink-with-size').ino).toBe(st('bin/owned').ino);
    expect(fs.readlinkSync(join(sb.root, 'bin/sh'))).toBe('/bin/busybox');
    expect([st('bin/sh').uid, st('bin/sh').gid, st('bin/sh').mtimeMs]).toEqual([1000, 1001, 1_234_567_000]);
    expect(fs.readlinkSync(join(sb.root, 'rel'))).toBe('../../x');
    expect(st('fifo').isFIFO()).toBe(true);
    expect([mode('fifo'), st('fifo').uid, st('fifo').gid]).toEqual([0o600, 3, 4]);
    expect(st('dev/null').isCharacterDevice()).toBe(true);
    expect(st('dev/null').rdev).toBe((1 << 8) | 3);
    expect(mode('dev/null')).toBe(0o666);
    expect(st('dev/big').isBlockDevice()).toBe(true);
    // glibc makedev: minor low 8 bits | major << 8 | (minor & ~0xff) << 12
    expect(st('dev/big').rdev).toBe((70000 & 0xff) | (259 << 8) | ((70000 & ~0xff) << 12));
    expect(fs.readFileSync(join(sb.root, longName), 'utf8')).toBe('long');
    expect(fs.readlinkSync(join(sb.root, 'longlink'))).toBe(longLink);
  });
});

const whiteoutLayer: RawEntry[] = [
  d('a'),
  f('a/.wh.x', '', { uid: 7, gid: 8 }),
  d('b'),
  f('b/keep', 'new'),
  f('b/.wh..wh..opq'),
  f('b/after', 'after'),
  f('.wh.c'),
];

function whiteoutBase(root: string) {
  sh('mkdir -p a b/sub && echo x > a/x && echo y > a/y && echo keep > b/keep && echo old > b/old && echo deep > b/sub/deep && echo c > c', root);
}

describe('whiteouts', () => {
  it('plain mode removes and empties in place', async () => {
    sb = sandbox();
    whiteoutBase(sb.root);
    await applyTo(sb, whiteoutLayer);
    expect(fs.readdirSync(join(sb.root, 'a'))).toEqual(['y']);
    expect(fs.readdirSync(join(sb.root, 'b')).sort()).toEqual(['after', 'keep']);
    expect(fs.readFileSync(join(sb.root, 'b/keep'), 'utf8')).toBe('new');
    expect(fs.existsSync(join(sb.root, 'c'))).toBe(false);
  });

  it('overlay mode writes overlay whiteouts that a real overlay mount honours', async () => {
    sb = sandbox();
    const t = tmp();
    const [lower, work, merged] = ['lower', 'work', 'merged'].map((n) => join(t, n));
    for (const dir of [lower, work, merged]) fs.mkdirSync(dir);
    whiteoutBase(lower);
    await applyTo(sb, whiteoutLayer, { mode: 'overlay' });
    const wh = fs.lstatSync(join(sb.root, 'a/x'));
    expect(wh.isCharacterDevice() && wh.rdev === 0).toBe(true);
    expect([wh.uid, wh.gid]).toEqual([7, 8]);
    expect(lgetxattr(join(sb.root, 'b'), 'trusted.overlay.opaque')?.toString()).toBe('y');
    expect(fs.lstatSync(join(sb.root, 'c')).isCharacterDevice()).toBe(true);
    await mountAll([{ type: 'overlay', source: 'overlay', options: [`lowerdir=${lower}`, `upperdir=${sb.root}`, `workdir=${work}`] }], merged);
    try {
      expect(fs.readdirSync(join(merged, 'a'))).toEqual(['y']);
      expect(fs.readdirSync(join(merged, 'b')).sort()).toEqual(['after', 'keep']);
      expect(fs.existsSync(join(merged, 'c'))).toBe(false);
    } finally {
      await unmountAll(merged);
    }
  });
});

describe('overlay fast path with parents (containerd archive.WithParents)', () => {
  it('a directory missing from the upperdir copies mode, owner, times and xattrs from the first lower that has it', async () => {
    sb = sandbox();
    const t = tmp();
    const [lower1, lower2] = ['lower1', 'lower2'].map((n) => join(t, n));
    for (const dir of [lower1, lower2]) fs.mkdirSync(dir);
    // lower1 (topmost) has usr/lib, lower2 the older usr; lib -> usr/lib in lower1
    sh(
      'mkdir -p usr/lib && chmod 0750 usr/lib && chown 7:8 usr/lib && touch -d @123 usr/lib && ln -s usr/lib lib && chmod 0711 usr && chown 3:4 usr && touch -d @456 usr',
      lower1,
    );
    sh('mkdir -p usr srv && chmod 0700 srv && chown 5:6 srv && touch -d @789 srv && echo f > opt', lower2);
    lsetxattr(join(lower1, 'usr/lib'), 'user.a', 'b');
    lsetxattr(join(lower1, 'usr/lib'), 'trusted.overlay.opaque', 'y');
    const blob = join(t, 'layer.tar');
    fs.writeFileSync(blob, tar([f('usr/lib/x', 'x'), f('lib/y', 'y'), f('new/z', 'z'), f('opt/sub/w', 'w'), f('srv/s', 's')]));
    await applyLayer({ root: sb.root, mode: 'overlay', mediaType: 'application/vnd.oci.image.layer.v1.tar', blob, parents: [lower1, lower2] });
    const st = (p: string) => fs.lstatSync(join(sb!.root, p));
    expect([st('usr').mode & 0o7777, st('usr').uid, st('usr').gid, st('usr').mtimeMs]).toEqual([0o711, 3, 4, 456_000]);
    expect([st('usr/lib').mode & 0o7777, st('usr/lib').uid, st('usr/lib').gid, st('usr/lib').mtimeMs]).toEqual([0o750, 7, 8, 123_000]);
    expect([st('srv').mode & 0o7777, st('srv').uid, st('srv').gid, st('srv').mtimeMs]).toEqual([0o700, 5, 6, 789_000]);
    expect(lgetxattr(join(sb.root, 'usr/lib'), 'user.a')?.toString()).toBe('b');
    expect(lgetxattr(join(sb.root, 'usr/lib'), 'trusted.overlay.opaque')).toBeNull();
    // as containerd: the lower's symlink is resolved in that lower, and a directory is made
    expect(st('lib').isDirectory()).toBe(true);
    expect(st('lib').mode & 0o7777).toBe(0o750);
    // found in no lower: containerd's default
    expect([st('new').mode & 0o7777, st('new').uid]).toEqual([0o755, 0]);
    // a file in the lower: replaced, nothing to copy
    expect([st('opt').isDirectory(), st('opt').mode & 0o7777]).toEqual([true, 0o755]);
  });
});

describe('unpack processes', () => {
  const hostile: RawEntry[] = [f('../../../PWN-reuse', 'x'), s('etc', '/'), f('etc/PWN-through-link', 'x'), f('/abs/file', 'in root')];

  it('one process applies layers one after another, each confined to its own target', async () => {
    const boxes = [sandbox(), sandbox()];
    try {
      const pids: number[] = [];
      for (const [i, box] of boxes.entries()) {
        await applyTo(box, [...hostile, f('which', `layer ${i}\n`)], { onSpawn: (pid) => pids.push(pid) });
      }
      expect(pids).toHaveLength(2);
      expect(pids[1]).toBe(pids[0]);
      for (const [i, box] of boxes.entries()) {
        box.check();
        expect(fs.readdirSync(box.root).sort()).toEqual(['PWN-reuse', 'PWN-through-link', 'abs', 'etc', 'which']);
        expect(fs.readFileSync(join(box.root, 'which'), 'utf8')).toBe(`layer ${i}\n`);
        expect(fs.readFileSync(join(box.root, 'abs/file'), 'utf8')).toBe('in root');
      }
    } finally {
      for (const box of boxes) box.cleanup();
    }
  });

  it('a process whose layer failed is not used again', async () => {
    const boxes = [sandbox(), sandbox()];
    try {
      const pids: number[] = [];
      await expect(applyTo(boxes[0]!, [f('ok', 'x'), f('.wh..', '')], { onSpawn: (pid) => pids.push(pid) })).rejects.toThrow(/invalid whiteout name/);
      await applyTo(boxes[1]!, [f('ok', 'y')], { onSpawn: (pid) => pids.push(pid) });
      expect(pids).toHaveLength(2);
      expect(pids[1]).not.toBe(pids[0]);
      expect(fs.readdirSync(boxes[0]!.root)).toEqual([]);
      expect(fs.readFileSync(join(boxes[1]!.root, 'ok'), 'utf8')).toBe('y');
      for (const box of boxes) box.check();
    } finally {
      for (const box of boxes) box.cleanup();
    }
  });

  it('lowers given later (a promise): entries go in first, parent attributes once the lowers are known; lowers that fail undo the layer', async () => {
    sb = sandbox();
    const t = tmp();
    const lower = join(t, 'lower');
    fs.mkdirSync(lower);
    const blob = join(t, 'layer.tar');
    fs.writeFileSync(blob, tar([f('usr/lib/x', 'x'), d('usr/share/'), f('usr/share/y', 'y')]));
    let give!: (dirs: string[]) => void;
    const lowers = new Promise<string[]>((resolve) => (give = resolve));
    const applying = applyLayer({ root: sb.root, mode: 'overlay', mediaType: 'application/vnd.oci.image.layer.v1.tar', blob, parents: lowers });
    let done = false;
    void applying.finally(() => (done = true));
    // the entries are written while the lower is still being made
    for (let i = 0; i < 100 && !fs.existsSync(join(sb.root, 'usr/share/y')); i++) await new Promise((r) => setTimeout(r, 20));
    expect(fs.readFileSync(join(sb.root, 'usr/lib/x'), 'utf8')).toBe('x');
    await new Promise((r) => setTimeout(r, 100));
    expect(done).toBe(false);
    sh('mkdir -p usr/lib usr/share && chmod 0750 usr/lib && chown 7:8 usr/lib && touch -d @123 usr/lib && chmod 0700 usr/share && touch -d @456 usr', lower);
    give([lower]);
    await applying;
    const st = (p: string) => fs.lstatSync(join(sb!.root, p));
    expect([st('usr/lib').mode & 0o7777, st('usr/lib').uid, st('usr/lib').gid, st('usr/lib').mtimeMs]).toEqual([0o750, 7, 8, 123_000]);
    expect(st('usr').mtimeMs).toBe(456_000);
    // an entry of its own keeps the entry's attributes
    expect(st('usr/share').mode & 0o7777).toBe(0o755);

    const second = join(t, 'second');
    fs.mkdirSync(second);
    const failed = applyLayer({
      root: second,
      mode: 'overlay',
      mediaType: 'application/vnd.oci.image.layer.v1.tar',
      blob,
      parents: Promise.reject(new Error('the layer below failed')),
    });
    await expect(failed).rejects.toThrow(/unpack process failed \(killed by SIGKILL\)/);
    expect(fs.readdirSync(second)).toEqual([]);
  });
});

/** The changes a container might make, exercising every kind of difference. */
const changes = `
  echo changed > etc/conf
  chmod 4711 bin/tool && chown 12:34 bin/tool
  rm etc/gone
  rm -rf var/cache
  rm -f opt/filedir && mkdir opt/filedir && echo in > opt/filedir/f
  rm -rf opt/dirlink && ln -s /etc opt/dirlink
  echo new > new
  ln new new-hardlink
  mkfifo newfifo && mknod newdev c 4 5
  touch -d @1700000000 etc
  rm -rf replaced && mkdir replaced && echo fresh > replaced/only
`;

function lowerTree(root: string) {
  sh(
    `mkdir -p etc bin var/cache/deep opt/dirlink replaced/old
     echo conf > etc/conf && echo gone > etc/gone && echo t > bin/tool && echo c > var/cache/deep/f
     echo file > opt/filedir && echo old > replaced/old/f && ln -s ../etc/conf link
     ln bin/tool bin/tool-link && mkfifo fifo && mknod dev b 7 1 && chown 5:6 opt && chmod 1750 opt
     touch -h -d @1500000000 link`,
    root,
  );
  lsetxattr(join(root, 'etc/conf'), 'user.kept', 'v');
}

/** xattr changes (no setfattr on these machines): added, changed and binary values. */
function xattrChanges(root: string) {
  lsetxattr(join(root, 'new'), 'user.x', '1');
  lsetxattr(join(root, 'new'), 'security.capability', capability);
  lsetxattr(join(root, 'etc/conf'), 'user.kept', 'changed');
  lsetxattr(join(root, 'bin'), 'user.dir', 'on a directory');
}

async function toFile(opts: CompareOptions, file: string) {
  await pipeline(Readable.from(diffStream(opts)), fs.createWriteStream(file));
}

describe('Compare → Apply round trip', () => {
  it('two trees: applying the diff onto the parent gives the upper tree', async () => {
    const t = tmp();
    const [lower, upper, target] = ['lower', 'upper', 'target'].map((n) => join(t, n));
    for (const dir of [lower, upper, target]) fs.mkdirSync(dir);
    lowerTree(lower);
    copyTree(lower, upper);
    copyTree(lower, target);
    sh(changes, upper);
    xattrChanges(upper);
    const layer = join(t, 'layer.tar');
    await toFile({ mode: 'trees', lower, upper }, layer);
    const r = await applyLayer({ root: target, mode: 'plain', mediaType: 'application/vnd.oci.image.layer.v1.tar', blob: layer });
    expect(r.size).toBe(fs.statSync(layer).size);
    expect(describeTree(target)).toEqual(describeTree(upper));
    // deterministic: the same trees give the same bytes
    const again = join(t, 'again.tar');
    await toFile({ mode: 'trees', lower, upper }, again);
    expect(fs.readFileSync(again).equals(fs.readFileSync(layer))).toBe(true);
  });

  it('overlay upperdir: applying the diff onto the parent gives the merged tree', async () => {
    const t = tmp();
    const [lower, upper, work, merged, target] = ['lower', 'upper', 'work', 'merged', 'target'].map((n) => join(t, n));
    for (const dir of [lower, upper, work, merged, target]) fs.mkdirSync(dir);
    lowerTree(lower);
    copyTree(lower, target);
    const mounts = [{ type: 'overlay', source: 'overlay', options: [`lowerdir=${lower}`, `upperdir=${upper}`, `workdir=${work}`] }];
    await mountAll(mounts, merged);
    try {
      sh(changes, merged);
      xattrChanges(merged);
    } finally {
      await unmountAll(merged);
    }
    const layer = join(t, 'layer.tar');
    await toFile({ mode: 'overlay', upper }, layer);
    await applyLayer({ root: target, mode: 'plain', mediaType: 'application/vnd.oci.image.layer.v1.tar', blob: layer });
    await mountAll(mounts, merged);
    try {
      // overlay's own xattrs (copy-up origin etc.) are not part of the tree
      expect(describeTree(target)).toEqual(describeTree(merged, (x) => x.startsWith('trusted.overlay.')));
    } finally {
      await unmountAll(merged);
    }
  });
});
