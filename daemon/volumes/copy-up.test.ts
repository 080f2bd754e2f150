import {
  chmodSync,
  chownSync,
  closeSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  readSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lgetxattr, lsetxattr, mknod, S_IFCHR, S_IFIFO } from '../../native/index.ts';
import { copyUp } from './copy-up.ts';

/** Every path under dir, relative, sorted; symlinks as `path -> target`. */
function tree(dir: string, at = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(dir, at)).sort()) {
    const rel = at ? `${at}/${name}` : name;
    const st = lstatSync(join(dir, rel));
    if (st.isSymbolicLink()) out.push(`${rel} -> ${readlinkSync(join(dir, rel))}`);
    else if (st.isDirectory()) out.push(`${rel}/`, ...tree(dir, rel));
    else out.push(rel);
  }
  return out;
}

describe('copyUp', () => {
  let dir: string;
  let rootfs: string;
  let volume: string;
  /** a directory outside the rootfs standing for the host's files */
  let host: string;

  beforeEach(() => {
    dir = mkdtempSync('/tmp/berth-copyup-');
    rootfs = join(dir, 'rootfs');
    volume = join(dir, 'volume', '_data');
    host = join(dir, 'host');
    mkdirSync(rootfs);
    mkdirSync(volume, { recursive: true });
    mkdirSync(host);
    writeFileSync(join(host, 'secret'), 'host secret\n');
    mkdirSync(join(rootfs, 'etc'));
    writeFileSync(join(rootfs, 'etc', 'image-file'), 'from the image\n');
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("copies the image's directory: files, directories, symlinks as links, modes, owners, times and xattrs", async () => {
    const data = join(rootfs, 'var', 'lib', 'app');
    mkdirSync(join(data, 'sub'), { recursive: true });
    writeFileSync(join(data, 'a.txt'), 'alpha\n');
    writeFileSync(join(data, 'sub', 'big'), Buffer.alloc(3 * 1024 * 1024 + 17, 7));
    writeFileSync(join(data, 'suid'), '#!/bin/sh\n');
    chownSync(join(data, 'suid'), 1234, 5678);
    chmodSync(join(data, 'suid'), 0o4755);
    chownSync(join(data, 'sub'), 70, 71);
    chmodSync(join(data, 'sub'), 0o1730);
    chownSync(data, 33, 33);
    chmodSync(data, 0o750);
    symlinkSync('/etc/shadow', join(data, 'abs-link'));
    symlinkSync('../../../../../../host/secret', join(data, 'rel-link'));
    lsetxattr(join(data, 'a.txt'), 'user.origin', 'image');
    lsetxattr(join(data, 'suid'), 'security.capability', Buffer.from('0100000200200000000000000000000000000000', 'hex'));
    utimesSync(join(data, 'a.txt'), new Date('2020-01-02T03:04:05Z'), new Date('2021-02-03T04:05:06Z'));

    const r = await copyUp(rootfs, '/var/lib/app', volume);
    expect(r).toEqual({ copied: true, skipped: [] });
    expect(tree(volume)).toEqual(['a.txt', 'abs-link -> /etc/shadow', 'rel-link -> ../../../../../../host/secret', 'sub/', 'sub/big', 'suid']);
    expect(readFileSync(join(volume, 'a.txt'), 'utf8')).toBe('alpha\n');
    expect(readFileSync(join(volume, 'sub', 'big')).equals(Buffer.alloc(3 * 1024 * 1024 + 17, 7))).toBe(true);
    const suid = statSync(join(volume, 'suid'));
    expect([suid.uid, suid.gid, suid.mode & 0o7777]).toEqual([1234, 5678, 0o4755]);
    const sub = statSync(join(volume, 'sub'));
    expect([sub.uid, sub.gid, sub.mode & 0o7777]).toEqual([70, 71, 0o1730]);
    // the volume's own directory takes the image directory's owner and mode, as Docker's does
    const top = statSync(volume);
    expect([top.uid, top.gid, top.mode & 0o7777]).toEqual([33, 33, 0o750]);
    expect(statSync(join(volume, 'a.txt')).mtime.toISOString()).toBe('2021-02-03T04:05:06.000Z');
    expect(lgetxattr(join(volume, 'a.txt'), 'user.origin')?.toString()).toBe('image');
    expect(lgetxattr(join(volume, 'suid'), 'security.capability')?.toString('hex')).toBe('0100000200200000000000000000000000000000');
  });

  it('keeps a sparse file sparse, and its size', async () => {
    mkdirSync(join(rootfs, 'data'));
    const size = 256 * 1024 * 1024 + 5;
    const fd = openSync(join(rootfs, 'data', 'sparse'), 'w');
    writeSync(fd, 'head', 0);
    writeSync(fd, 'tail', size - 4);
    closeSync(fd);
    await copyUp(rootfs, '/data', volume);
    const st = statSync(join(volume, 'sparse'));
    expect(st.size).toBe(size);
    expect(st.blocks * 512).toBeLessThan(4 * 1024 * 1024);
    const copy = openSync(join(volume, 'sparse'), 'r');
    const head = Buffer.alloc(4);
    const tail = Buffer.alloc(4);
    readSync(copy, head, 0, 4, 0);
    readSync(copy, tail, 0, 4, size - 4);
    closeSync(copy);
    expect([head.toString(), tail.toString()]).toEqual(['head', 'tail']);
  });

  it('keeps hard links as hard links', async () => {
    mkdirSync(join(rootfs, 'data'));
    writeFileSync(join(rootfs, 'data', 'one'), 'same');
    linkSync(join(rootfs, 'data', 'one'), join(rootfs, 'data', 'two'));
    await copyUp(rootfs, '/data', volume);
    expect(statSync(join(volume, 'one')).ino).toBe(statSync(join(volume, 'two')).ino);
    expect(statSync(join(volume, 'one')).nlink).toBe(2);
  });

  it('resolves an absolute symlink at the path inside the rootfs, never to the host', async () => {
    // the image says /data -> /etc: that is the image's /etc, not the host's
    symlinkSync('/etc', join(rootfs, 'data'));
    expect(await copyUp(rootfs, '/data', volume)).toEqual({ copied: true, skipped: [] });
    expect(tree(volume)).toEqual(['image-file']);
  });

  it('resolves ../ links and .. in the path inside the rootfs', async () => {
    symlinkSync('../../../../../../../../etc', join(rootfs, 'data'));
    await copyUp(rootfs, '/data', volume);
    expect(tree(volume)).toEqual(['image-file']);
    rmSync(join(volume, 'image-file'));
    await copyUp(rootfs, '/../../../../etc/../../etc', volume);
    expect(tree(volume)).toEqual(['image-file']);
  });

  it('resolves a symlinked parent component and chains of links inside the rootfs', async () => {
    symlinkSync(host, join(rootfs, 'hostdir'));
    symlinkSync('/hostdir', join(rootfs, 'hop'));
    // /hop/secret -> /hostdir/secret -> <host>/secret: inside the rootfs that does not exist
    expect(await copyUp(rootfs, '/hop', volume)).toEqual({ copied: false, reason: 'the image has nothing at /hop', skipped: [] });
    symlinkSync('/', join(rootfs, 'up'));
    mkdirSync(join(rootfs, 'srv', 'www'), { recursive: true });
    writeFileSync(join(rootfs, 'srv', 'www', 'index.html'), 'hi');
    symlinkSync('../up/srv', join(rootfs, 'etc', 'srv'));
    await copyUp(rootfs, '/etc/srv/www', volume);
    expect(tree(volume)).toEqual(['index.html']);
    expect(readdirSync(host)).toEqual(['secret']);
  });

  it('copies nothing for a path the image does not have, or that is a file where a directory is expected', async () => {
    expect(await copyUp(rootfs, '/missing/deeper', volume)).toMatchObject({ copied: false, reason: 'the image has nothing at /missing/deeper' });
    expect(await copyUp(rootfs, '/etc/image-file/below', volume)).toMatchObject({ copied: false });
    expect(await copyUp(rootfs, '/etc/image-file', volume)).toEqual({ copied: false, reason: '/etc/image-file in the image is not a directory', skipped: [] });
    symlinkSync('/etc/image-file', join(rootfs, 'file-link'));
    expect(await copyUp(rootfs, '/file-link', volume)).toMatchObject({ copied: false, reason: '/file-link in the image is not a directory' });
    expect(readdirSync(volume)).toEqual([]);
  });

  it("refuses the container's root, also when a link leads there", async () => {
    symlinkSync('/', join(rootfs, 'root-link'));
    for (const path of ['/', '/..', '/root-link', '/etc/..'])
      await expect(copyUp(rootfs, path, volume), path).rejects.toThrow(`a volume cannot be mounted at ${path}: it is the container's root`);
    expect(readdirSync(volume)).toEqual([]);
  });

  it('refuses a symlink loop with a clear error', async () => {
    symlinkSync('/b', join(rootfs, 'a'));
    symlinkSync('/a', join(rootfs, 'b'));
    await expect(copyUp(rootfs, '/a', volume)).rejects.toThrow(/cannot copy the image's \/a into a volume: too many levels of symbolic links/);
  });

  it('skips device nodes, FIFOs and sockets', async () => {
    mkdirSync(join(rootfs, 'dev-dir'));
    mknod(join(rootfs, 'dev-dir', 'mem'), S_IFCHR | 0o666, 1, 1);
    mknod(join(rootfs, 'dev-dir', 'fifo'), S_IFIFO | 0o666);
    writeFileSync(join(rootfs, 'dev-dir', 'ok'), 'ok');
    expect(await copyUp(rootfs, '/dev-dir', volume)).toEqual({ copied: true, skipped: ['fifo', 'mem'] });
    expect(tree(volume)).toEqual(['ok']);
  });

  it('does not touch a volume that holds data', async () => {
    writeFileSync(join(volume, 'mine'), 'keep');
    expect(await copyUp(rootfs, '/etc', volume)).toEqual({ copied: false, reason: 'the volume already holds data', skipped: [] });
    expect(tree(volume)).toEqual(['mine']);
  });

  it('refuses a data directory that is a symlink', async () => {
    const elsewhere = join(dir, 'elsewhere');
    mkdirSync(elsewhere);
    rmSync(volume, { recursive: true });
    symlinkSync(elsewhere, volume);
    await expect(copyUp(rootfs, '/etc', volume)).rejects.toThrow(/is not a directory/);
    expect(readdirSync(elsewhere)).toEqual([]);
  });

  it('leaves the volume empty when the copy fails part way', async () => {
    mkdirSync(join(rootfs, 'data', 'a'), { recursive: true });
    writeFileSync(join(rootfs, 'data', 'a', 'f'), 'x');
    // a tree whose copy is too deep for the volume's longer path: it fails after a/ is copied
    const longVolume = join(dir, 'v'.repeat(250), '_data');
    mkdirSync(longVolume, { recursive: true });
    const long = 'x'.repeat(255);
    let deep = join(rootfs, 'data', 'b');
    mkdirSync(deep);
    while (deep.length + long.length + 1 < 4000) {
      deep = join(deep, long);
      mkdirSync(deep);
    }
    await expect(copyUp(rootfs, '/data', longVolume)).rejects.toThrow(/ENAMETOOLONG/);
    expect(readdirSync(longVolume)).toEqual([]);
  });
});
