import * as fs from 'node:fs';
import { join, posix } from 'node:path';
import { createGzip } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { BerthError } from '../core/errors.ts';
import { llistxattr } from '../native/index.ts';
import { applyTo, type Sandbox, sandbox } from './support/layers/sandbox.ts';
import { base256, d, f, gz, h, paxBody, type RawEntry, s, tar, zst } from './support/layers/tarbuild.ts';

/**
 * Hostile layers against the applier (daemon/diff/apply.ts). Each case runs on a fresh target
 * with sentinels outside it; every case must either fail with a clear error or be neutralised,
 * and nothing outside the target may change. Cases named like containerd's TestBreakouts
 * (archive/tar_test.go) are ports of it; H-xx refer to shared/reference/reliability.md §1.
 */

let sb: Sandbox;
afterEach(() => {
  try {
    sb?.check();
  } finally {
    sb?.cleanup();
  }
});

const inRoot = (p: string) => join(sb.root, p);
const read = (p: string) => fs.readFileSync(inRoot(p), 'utf8');
const exists = (p: string) => {
  try {
    fs.lstatSync(inRoot(p));
    return true;
  } catch {
    return false;
  }
};
/** Resolves p inside the root, following symlinks as the container would (fs.RootPath). */
function rootPath(p: string, depth = 0): string {
  if (depth > 40) throw new Error(`symlink loop at ${p}`);
  let cur = '/';
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    const next = part === '..' ? posix.dirname(cur) : posix.join(cur, part);
    const st = fs.lstatSync(join(sb.root, next), { throwIfNoEntry: false });
    cur = st?.isSymbolicLink() ? rootPath(posix.resolve(cur, fs.readlinkSync(join(sb.root, next))), depth + 1) : next;
  }
  return cur;
}
const sameFile = (a: string, b: string) => {
  const x = fs.statSync(inRoot(rootPath(a)));
  const y = fs.statSync(inRoot(rootPath(b)));
  return x.ino === y.ino && x.dev === y.dev;
};
const isSymlink = (p: string) => fs.lstatSync(inRoot(p)).isSymbolicLink();

/** The layer must be refused with an InvalidArgument error whose message matches. */
async function refused(entries: RawEntry[], message: RegExp, opts: Parameters<typeof applyTo>[2] = {}) {
  const err = await applyTo(sb, entries, opts).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'the layer was applied, but it should have been refused').toBeInstanceOf(BerthError);
  expect((err as BerthError).message).toMatch(message);
  return err as BerthError;
}

interface Breakout {
  name: string;
  pre?: () => void;
  layer: RawEntry[] | (() => RawEntry[]);
  check?: () => void;
  error?: RegExp;
}

const etcPasswd = () => {
  fs.mkdirSync(inRoot('etc'), { mode: 0o755 });
  fs.writeFileSync(inRoot('etc/passwd'), 'inside');
};

const unbroken = () => expect(read('etc/unbroken')).toBe('unbroken');

const breakouts: Breakout[] = [
  { name: 'SymlinkAbsolute', layer: [d('etc'), s('localetc', '/etc'), f('/localetc/unbroken', 'unbroken')], check: unbroken },
  { name: 'SymlinkUpAndOut', layer: [d('etc'), d('dummy'), s('localetc', '/dummy/../etc'), f('/localetc/unbroken', 'unbroken')], check: unbroken },
  {
    name: 'SymlinkMultipleAbsolute',
    layer: [d('etc'), d('dummy'), s('/dummy/etc', '/etc'), s('localetc', '/dummy/etc'), f('/dummy/etc/unbroken', 'unbroken')],
    check: unbroken,
  },
  {
    name: 'SymlinkMultipleRelative',
    layer: [d('etc'), d('dummy'), s('/dummy/etc', '/etc'), s('localetc', './dummy/etc'), f('/dummy/etc/unbroken', 'unbroken')],
    check: unbroken,
  },
  {
    name: 'SymlinkEmptyFile',
    layer: [d('etc'), f('etc/emptied', 'notempty'), s('localetc', '/etc'), f('/localetc/emptied', '')],
    check: () => expect(read('etc/emptied')).toBe(''),
  },
  {
    name: 'HardlinkRelative',
    layer: [
      d('etc', { mode: 0o770 }),
      f('/etc/passwd', 'inside'),
      d('breakouts'),
      s('breakouts/d1', '../../etc'),
      h('breakouts/mypasswd', '/breakouts/d1/passwd'),
    ],
    check: () => expect(sameFile('breakouts/mypasswd', 'etc/passwd')).toBe(true),
  },
  {
    name: 'HardlinkDownAndOut',
    layer: [
      d('etc', { mode: 0o770 }),
      f('/etc/passwd', 'inside'),
      d('breakouts'),
      d('downandout'),
      s('breakouts/d1', '../downandout/../../etc'),
      h('breakouts/mypasswd', '/breakouts/d1/passwd'),
    ],
    check: () => expect(sameFile('breakouts/mypasswd', 'etc/passwd')).toBe(true),
  },
  {
    name: 'HardlinkAbsolute',
    layer: [d('etc', { mode: 0o770 }), f('/etc/passwd', 'inside'), s('localetc', '/etc'), h('localpasswd', '/localetc/passwd')],
    check: () => expect(sameFile('localpasswd', 'etc/passwd')).toBe(true),
  },
  {
    name: 'HardlinkRelativeLong',
    layer: [d('etc', { mode: 0o770 }), f('/etc/passwd', 'inside'), s('localetc', '../../../../../../../etc'), h('localpasswd', '/localetc/passwd')],
    check: () => expect(sameFile('localpasswd', 'etc/passwd')).toBe(true),
  },
  {
    name: 'HardlinkRelativeUpAndOut',
    layer: [d('etc', { mode: 0o770 }), f('/etc/passwd', 'inside'), s('localetc', 'upandout/../../../etc'), h('localpasswd', '/localetc/passwd')],
    // the symlink's first component does not exist: the kernel cannot resolve it (containerd's
    // own resolver treats it lexically); either way nothing outside is reached
    error: /localpasswd.*ENOENT/,
  },
  {
    name: 'HardlinkDirectRelative',
    layer: [d('etc', { mode: 0o770 }), f('/etc/passwd', 'inside'), h('localpasswd', '../../../../../etc/passwd')],
    check: () => expect(sameFile('localpasswd', 'etc/passwd')).toBe(true),
  },
  {
    name: 'HardlinkDirectAbsolute',
    layer: [d('etc', { mode: 0o770 }), f('/etc/passwd', 'inside'), h('localpasswd', '/etc/passwd')],
    check: () => expect(sameFile('localpasswd', 'etc/passwd')).toBe(true),
  },
  {
    name: 'HardlinkSymlinkBeforeCreateTarget',
    layer: [d('etc', { mode: 0o770 }), s('localpasswd', '/etc/passwd'), h('localpasswd-dup', 'localpasswd'), f('/etc/passwd', 'after')],
    check: () => expect(sameFile('localpasswd-dup', 'etc/passwd')).toBe(true),
  },
  {
    name: 'HardlinkSymlinkRelative',
    layer: [d('etc', { mode: 0o770 }), f('/etc/passwd', 'inside'), s('passwdlink', '../../../../../etc/passwd'), h('localpasswd', '/passwdlink')],
    check: () => {
      expect(isSymlink('localpasswd') && isSymlink('passwdlink')).toBe(true);
      expect(fs.readlinkSync(inRoot('localpasswd'))).toBe(fs.readlinkSync(inRoot('passwdlink')));
    },
  },
  {
    name: 'HardlinkSymlinkAbsolute',
    layer: [d('etc', { mode: 0o770 }), f('/etc/passwd', 'inside'), s('passwdlink', '/etc/passwd'), h('localpasswd', '/passwdlink')],
    check: () => {
      expect(isSymlink('localpasswd')).toBe(true);
      expect(fs.readlinkSync(inRoot('localpasswd'))).toBe('/etc/passwd');
    },
  },
  {
    name: 'SymlinkParentDirectory',
    layer: [d('etc', { mode: 0o770 }), f('/etc/passwd', 'inside'), s('..', '/etc/'), h('localpasswd', '/etc/passwd')],
    check: () => expect(sameFile('localpasswd', 'etc/passwd')).toBe(true),
  },
  {
    name: 'SymlinkEmptyFilename',
    layer: [d('etc', { mode: 0o770 }), f('/etc/passwd', 'inside'), s('', '/etc/'), h('localpasswd', '/etc/passwd')],
    check: () => expect(sameFile('localpasswd', 'etc/passwd')).toBe(true),
  },
  {
    name: 'SymlinkParentRelative',
    layer: [d('etc', { mode: 0o770 }), f('/etc/passwd', 'inside'), s('localetc/sub/..', '/etc/'), h('/localetc/localpasswd', '/etc/passwd')],
    check: () => expect(sameFile('localetc/localpasswd', 'etc/passwd')).toBe(true),
  },
  {
    name: 'SymlinkSlashEnded',
    layer: [d('etc', { mode: 0o770 }), f('/etc/passwd', 'inside'), d('localetc/', { mode: 0o770 }), h('/localetc/localpasswd', '/etc/passwd')],
    check: () => expect(sameFile('localetc/localpasswd', 'etc/passwd')).toBe(true),
  },
  {
    name: 'SymlinkOverrideDirectory',
    pre: () => {
      etcPasswd();
      fs.mkdirSync(inRoot('localetc'));
    },
    layer: [s('localetc', '/etc'), h('/localetc/localpasswd', '/etc/passwd')],
    check: () => expect(sameFile('localetc/localpasswd', 'etc/passwd')).toBe(true),
  },
  {
    name: 'SymlinkOverrideDirectoryRelative',
    pre: () => {
      etcPasswd();
      fs.mkdirSync(inRoot('localetc'));
    },
    layer: [s('localetc', '../../etc'), h('/localetc/localpasswd', '/etc/passwd')],
    check: () => expect(sameFile('localetc/localpasswd', 'etc/passwd')).toBe(true),
  },
  {
    name: 'DirectoryOverrideSymlink',
    pre: () => {
      etcPasswd();
      fs.symlinkSync('/etc', inRoot('localetc'));
    },
    layer: [d('/localetc/'), h('/localetc/localpasswd', '/etc/passwd')],
    check: () => {
      expect(fs.lstatSync(inRoot('localetc')).isDirectory()).toBe(true);
      expect(sameFile('localetc/localpasswd', 'etc/passwd')).toBe(true);
    },
  },
  {
    name: 'DirectoryOverrideSymlinkAndHardlink',
    pre: () => {
      etcPasswd();
      fs.symlinkSync('etc', inRoot('localetc'));
      fs.linkSync(inRoot('etc/passwd'), inRoot('etc/localpasswd'));
    },
    layer: [d('/localetc/'), f('/localetc/localpasswd', 'different')],
    check: () => {
      expect(sameFile('localetc/localpasswd', 'etc/passwd')).toBe(false);
      expect(read('etc/passwd')).toBe('inside');
    },
  },
  { name: 'WhiteoutRootParent', pre: etcPasswd, layer: [f('.wh...')], error: /invalid whiteout name/ },
  { name: 'WhiteoutParent', pre: etcPasswd, layer: [f('etc/.wh...')], error: /invalid whiteout name/ },
  { name: 'WhiteoutRoot', pre: etcPasswd, layer: [f('.wh..')], error: /invalid whiteout name/ },
  { name: 'WhiteoutCurrentDirectory', pre: etcPasswd, layer: [f('etc/.wh..')], error: /invalid whiteout name/ },
  {
    name: 'WhiteoutSymlink',
    pre: () => {
      etcPasswd();
      fs.symlinkSync('/etc', inRoot('localetc'));
    },
    layer: [f('.wh.localetc')],
    check: () => {
      expect(read('etc/passwd')).toBe('inside');
      expect(exists('localetc')).toBe(false);
    },
  },
  {
    name: 'WhiteoutSymlinkPath',
    pre: () => {
      etcPasswd();
      fs.writeFileSync(inRoot('etc/whitedout'), 'ahhhh whiteout');
      fs.symlinkSync('/etc', inRoot('localetc'));
    },
    layer: [f('localetc/.wh.whitedout')],
    check: () => {
      expect(read('etc/passwd')).toBe('inside');
      expect(exists('etc/whitedout')).toBe(false);
    },
  },
  {
    name: 'WhiteoutDirectoryName',
    pre: () => {
      etcPasswd();
      fs.symlinkSync('/etc', inRoot('localetc'));
    },
    layer: [f('.wh.etc/somefile', 'non-empty')],
    check: () => {
      expect(read('etc/passwd')).toBe('inside');
      expect(read('.wh.etc/somefile')).toBe('non-empty');
    },
  },
  {
    name: 'WhiteoutDeadSymlinkParent',
    pre: () => {
      etcPasswd();
      fs.symlinkSync('/dne', inRoot('localetc'));
    },
    layer: [f('localetc/.wh.etc')],
    check: () => expect(read('etc/passwd')).toBe('inside'),
  },
  {
    name: 'WhiteoutRelativePath',
    pre: () => {
      etcPasswd();
      fs.symlinkSync('/dne', inRoot('localetc'));
    },
    layer: [f('dne/../.wh.etc')],
    check: () => expect(exists('etc/passwd')).toBe(false),
  },
  {
    name: 'HardlinkSymlinkChmod',
    // a symlink named like the host canary, pointing at it; then a 0777 hardlink to the symlink
    layer: () => [s(`${sb.canary}-link`, sb.canary), h('sketchylink', `${sb.canary}-link`, { mode: 0o777 })],
    check: () => {
      expect(fs.statSync(sb.canary).mode & 0o7777).toBe(0o400);
      expect(isSymlink('sketchylink')).toBe(true);
    },
  },
];

describe('TestBreakouts (containerd archive/tar_test.go)', () => {
  for (const bo of breakouts) {
    it(bo.name, async () => {
      sb = sandbox();
      bo.pre?.();
      const layer = typeof bo.layer === 'function' ? bo.layer() : bo.layer;
      if (bo.error) {
        await refused(layer, bo.error);
      } else {
        await applyTo(sb, layer);
        bo.check?.();
      }
    });
  }
});

describe('hostile layers (reliability.md §1)', () => {
  it('H-01 `..` in names is clamped to the root', async () => {
    sb = sandbox();
    await applyTo(sb, [f('../../../../tmp/PWN-h01', 'x'), f('../outside/canary', 'overwritten?')]);
    expect(read('tmp/PWN-h01')).toBe('x');
    expect(read('outside/canary')).toBe('overwritten?');
  });

  it('H-02 absolute names are read from the root', async () => {
    sb = sandbox();
    await applyTo(sb, [f('////etc/PWN-h02', 'x'), f('/tmp/PWN-h02', 'y')]);
    expect(read('etc/PWN-h02')).toBe('x');
    expect(read('tmp/PWN-h02')).toBe('y');
  });

  it('H-03 entries that resolve to the root are ignored', async () => {
    sb = sandbox();
    await applyTo(sb, [s('.', '/'), f('./', 'x'), f('/', 'y'), d('.'), f('ok', 'ok')]);
    expect(fs.lstatSync(sb.root).isDirectory()).toBe(true);
    expect(read('ok')).toBe('ok');
  });

  it('H-04 a write through a symlink made earlier in the layer stays inside', async () => {
    sb = sandbox();
    await applyTo(sb, [d('etc'), s('localetc', '/etc'), f('localetc/unbroken', 'unbroken'), s('out', sb.outside), f('out/PWN', 'x')]);
    unbroken();
    expect(read(`${sb.outside}/PWN`)).toBe('x');
  });

  it('H-05 SymlinkOverridePath: a symlink replacing a directory between entries', async () => {
    sb = sandbox();
    await applyTo(sb, [
      d('foo'),
      d('foo/tmp'),
      f('foo/tmp/PWN-h05', 'A'),
      s('foo', '/'),
      f('foo/tmp/PWN-h05', 'B'),
      d('foo'),
      d('foo/tmp'),
      f('foo/tmp/PWN-h05', 'C'),
    ]);
    expect(read('foo/tmp/PWN-h05')).toBe('C');
    expect(read('tmp/PWN-h05')).toBe('B');
  });

  it('H-06 a symlink from a lower layer is followed inside the root', async () => {
    sb = sandbox();
    await applyTo(sb, [d('usr'), d('usr/lib'), s('lib', 'usr/lib'), s('rootlink', '/')]);
    await applyTo(sb, [f('lib/libx.so', '1'), f('rootlink/tmp/PWN-h06', 'x')]);
    expect(read('usr/lib/libx.so')).toBe('1');
    expect(read('tmp/PWN-h06')).toBe('x');
  });

  it('H-07 symlink targets are stored verbatim', async () => {
    sb = sandbox();
    await applyTo(sb, [s('env', '/bin/busybox'), s('x', '../../../../etc/shadow'), s('y', sb.canary)]);
    expect(fs.readlinkSync(inRoot('env'))).toBe('/bin/busybox');
    expect(fs.readlinkSync(inRoot('x'))).toBe('../../../../etc/shadow');
    expect(fs.readlinkSync(inRoot('y'))).toBe(sb.canary);
  });

  it('H-08 very long names fail fast', async () => {
    sb = sandbox();
    await refused([{ name: 'long', type: '0', data: '1', pax: { path: `${'a/'.repeat(5000)}x` } }], /name longer than/);
  });

  it('H-10 hardlinks to host files resolve inside the root (and fail: no such file)', async () => {
    sb = sandbox();
    await refused([h('mycanary', sb.canary)], /mycanary.*ENOENT/);
    await refused([h('my2', `../../../../../../${sb.canary}`)], /my2.*ENOENT/);
    expect(fs.statSync(sb.canary).nlink).toBe(1);
  });

  it('H-11 a hardlink through an in-archive symlink links the in-root file', async () => {
    sb = sandbox();
    await applyTo(sb, [d('etc'), f('etc/passwd', 'inside'), d('breakouts'), s('breakouts/d1', '../../etc'), h('breakouts/mypasswd', '/breakouts/d1/passwd')]);
    expect(sameFile('breakouts/mypasswd', 'etc/passwd')).toBe(true);
    expect(fs.statSync(join(sb.outside, 'etc/passwd')).nlink).toBe(1);
  });

  it('H-12 CVE-2021-32760: chmod never goes through a symlink', async () => {
    sb = sandbox();
    await applyTo(sb, [s('ext', sb.canary, { mode: 0o777 }), h('sketchy', 'ext', { mode: 0o777 }), s(sb.canary, sb.canary, { mode: 0o777 })]);
    expect(fs.statSync(sb.canary).mode & 0o7777).toBe(0o400);
  });

  it('H-13 a file after a hardlink of the same name replaces the link, not the target', async () => {
    sb = sandbox();
    await applyTo(sb, [f('a', 'orig'), h('b', 'a'), f('b', 'evil')]);
    expect(read('a')).toBe('orig');
    expect(read('b')).toBe('evil');
  });

  it('H-13 a hardlink to a missing target or to a directory is an error', async () => {
    sb = sandbox();
    await refused([h('b', 'later'), f('later', 'x')], /"b".*ENOENT/);
    await refused([d('dir'), h('b2', 'dir')], /"b2".*EPERM/);
  });

  it('H-20 whiteouts that would leave their directory are refused (also in overlay mode)', async () => {
    sb = sandbox();
    for (const mode of ['plain', 'overlay'] as const) {
      for (const name of ['.wh...', 'etc/.wh...', '.wh..', 'etc/.wh..', 'a/b/.wh...']) await refused([f(name)], /invalid whiteout name/, { mode });
    }
    await refused([f('../.wh...')], /invalid whiteout name/);
  });

  it('H-21 a whiteout under a symlinked directory removes inside the root', async () => {
    sb = sandbox();
    fs.mkdirSync(inRoot('etc'));
    fs.writeFileSync(inRoot('etc/x'), 'x');
    fs.symlinkSync(sb.outside, inRoot('out'));
    fs.mkdirSync(inRoot(sb.outside), { recursive: true });
    fs.writeFileSync(inRoot(join(sb.outside, 'canary')), 'inner');
    await applyTo(sb, [s('localetc', '/etc'), f('localetc/.wh.x'), f('out/.wh.canary')]);
    expect(exists('etc/x')).toBe(false);
    expect(exists(join(sb.outside, 'canary'))).toBe(false);
  });

  it('H-22 opaque marker in a symlinked directory empties the in-root directory only', async () => {
    sb = sandbox();
    fs.mkdirSync(inRoot(sb.outside), { recursive: true });
    fs.writeFileSync(inRoot(join(sb.outside, 'inner')), 'x');
    await applyTo(sb, [s('o', sb.outside), f('o/.wh..wh..opq')]);
    expect(fs.readdirSync(inRoot(sb.outside))).toEqual([]);
  });

  it('utimes through a symlink never touches the target', async () => {
    sb = sandbox();
    await applyTo(sb, [s('t', sb.canary, { mtime: 5 }), s('u', sb.outside, { mtime: 5 }), d('u/sub', { mtime: 5 })]);
    expect(fs.lstatSync(inRoot('t')).mtimeMs).toBe(5000);
    expect(fs.statSync(inRoot(join(sb.outside, 'sub'))).mtimeMs).toBe(5000);
  });

  it('an entry whose parent is a file is refused', async () => {
    sb = sandbox();
    await refused([f('a', 'file'), f('a/b', 'x')], /"a\/b".*ENOTDIR/);
  });

  it('NUL in a PAX path or linkpath is refused', async () => {
    sb = sandbox();
    await refused([{ name: 'x', type: '0', pax: { path: 'ok\0/../../../tmp/PWN-nul' } }], /NUL/);
    await refused([{ name: 'y', type: '2', pax: { linkpath: 'a\0b' } }], /NUL/);
  });

  it('entries are written, checked for escape and whiteouts, and linked by the name Go reads', async () => {
    sb = sandbox();
    const global = (recs: Record<string, string>, name = 'pax_global_header'): RawEntry => ({ name, type: 'g', data: paxBody(recs) });
    fs.mkdirSync(inRoot('etc'));
    fs.writeFileSync(inRoot('etc/keep'), 'keep');
    for (const mode of ['plain', 'overlay'] as const) {
      // a global PAX header renames, resizes and re-links nothing (a scanner sees bin/ok)
      // nor does it remove what is at its own name (containerd would), whiteout or not
      await applyTo(
        sb,
        [
          global({ path: 'etc/cron.d/evil', size: '0', linkpath: 'etc/keep' }),
          f('bin/ok', 'ok'),
          f('a', 'A'),
          h('l', 'a'),
          global({}, '.wh.etc'),
          global({}, 'etc/keep'),
        ],
        { mode },
      );
      expect(read('bin/ok')).toBe('ok');
      expect(exists('etc/cron.d')).toBe(false);
      expect(sameFile('l', 'a')).toBe(true);
      // the PAX path, not the ustar name, is what is checked and written
      await applyTo(
        sb,
        [
          f('.wh.etc', 'p', { pax: { path: 'ok1' } }),
          f('../../../tmp/PWN-pax', 'x', { pax: { path: 'inside' } }),
          f('inside2', 'y', { pax: { path: '../../../tmp/PWN-pax2' } }),
        ],
        { mode },
      );
      expect(read('etc/keep')).toBe('keep');
      expect(read('ok1')).toBe('p');
      expect(read('inside')).toBe('x');
      expect(read('tmp/PWN-pax2')).toBe('y');
      // the PAX linkpath is the hardlink target; a GNU long name beats the PAX path
      await applyTo(
        sb,
        [h('l2', 'etc/keep', { pax: { linkpath: 'a' } }), { name: '././@LongLink', type: 'L', data: 'gnu\0' }, f('ustar', 'g', { pax: { path: 'pax' } })],
        { mode },
      );
      expect(sameFile('l2', 'a')).toBe(true);
      expect(read('gnu')).toBe('g');
      expect(exists('pax') || exists('ustar')).toBe(false);
    }
    // and a whiteout named by the PAX path removes what it names
    await applyTo(sb, [f('ok2', '', { pax: { path: '.wh.etc' } })]);
    expect(exists('etc') || exists('ok2') || exists('.wh.etc')).toBe(false);
  });

  it("times before the epoch or past int64 nanoseconds become the epoch, as containerd's boundTime makes them", async () => {
    sb = sandbox();
    await applyTo(sb, [
      f('before', 'x', { pax: { mtime: '-5.5' } }),
      f('far', 'x', { raw: [[136, base256(1n << 40n, 12)]] }),
      d('dir', { raw: [[136, base256(-1n, 12)]] }),
      s('link', 'far', { pax: { mtime: '10000000000' } }),
      f('ok', 'x', { pax: { mtime: '9000000000.5' } }),
    ]);
    expect(['before', 'far', 'dir', 'link', 'ok'].map((p) => fs.lstatSync(inRoot(p)).mtimeMs)).toEqual([0, 0, 0, 0, 9_000_000_000_500]);
  });

  it('malformed headers and sizes are refused', async () => {
    sb = sandbox();
    const bad = tar([f('a', 'x')]);
    bad[0] ^= 0xff; // checksum mismatch
    await refused([], /checksum/, { bytes: gz(bad) });
    await refused([{ name: 'x', type: '0', pax: { size: '-5' } }], /negative entry size/);
    const negative = tar([f('n', 'x')]);
    negative.fill(0xff, 124, 136); // GNU base-256 -1
    negative.fill(0x20, 148, 156);
    let sum = 0;
    for (const x of negative.subarray(0, 512)) sum += x;
    negative.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    await refused([], /negative entry size/, { bytes: gz(negative) });
    await refused([{ name: 'x', type: '0', pax: { uid: '1e9' } }], /invalid PAX uid/);
    await refused([], /checksum|archive/, { bytes: gz(Buffer.from('not a tar at all'.repeat(64))) });
    await refused(
      [
        { name: 'x', type: '0', pax: { 'SCHILY.xattr.user.x': 'v', path: 'p' } },
        { name: 'y', type: 'Z' },
      ],
      /unsupported entry type/,
    );
  });

  it('a truncated archive or gzip stream is an error', async () => {
    sb = sandbox();
    const t = tar([f('a', 'x'.repeat(5000))]);
    await refused([], /truncated|end of archive/, { bytes: gz(t.subarray(0, 1536)) });
    const g = gz(t);
    await refused([], /gzip stream/, { bytes: g.subarray(0, g.length - 10) });
  });

  it('the magic bytes must match the media type', async () => {
    sb = sandbox();
    const t = tar([f('a', 'x')]);
    await refused([], /media type says gzip but the data is not compressed/, { bytes: t });
    await refused([], /media type says uncompressed but the data is gzip/, { bytes: gz(t), mediaType: 'application/vnd.oci.image.layer.v1.tar' });
    await refused([], /media type says gzip but the data is zstd/, { bytes: zst(t) });
    const err = await applyTo(sb, [], { bytes: t, mediaType: 'application/x-whatever' }).catch((e: BerthError) => e);
    expect((err as BerthError).code).toBe('Unimplemented');
    // docker's plain layer type is sniffed
    await applyTo(sb, [], { bytes: zst(tar([f('z', 'zstd')])), mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd' });
    await applyTo(sb, [], { bytes: gz(tar([f('g', 'gz')])), mediaType: 'application/vnd.docker.image.rootfs.diff.tar' });
    expect(read('z') + read('g')).toBe('zstdgz');
  });

  it('trusted.* xattrs from a layer are not set', async () => {
    sb = sandbox();
    const r = await applyTo(sb, [{ name: 'x', type: '0', pax: { 'SCHILY.xattr.trusted.overlay.opaque': 'y' } }]);
    expect(r.warnings[0]?.message).toMatch(/trusted/);
    const { lgetxattr } = await import('../native/index.ts');
    expect(lgetxattr(inRoot('x'), 'trusted.overlay.opaque')).toBeNull();
  });

  it('an unpack child that dies is an error, not a daemon crash', async () => {
    sb = sandbox();
    const big = gz(tar([f('a', Buffer.alloc(64 << 20).toString())]));
    const err = await applyTo(sb, [], { bytes: big, onSpawn: (pid) => setTimeout(() => process.kill(pid, 'SIGKILL'), 30) }).catch((e: BerthError) => e);
    expect(err).toBeInstanceOf(BerthError);
    expect((err as BerthError).message).toMatch(/unpack process failed \(killed by SIGKILL\)/);
  });

  it('a gzip bomb (1 GiB of zeros) streams in bounded memory', async () => {
    sb = sandbox();
    // a tiny layer followed by 1 GiB of zero padding: it is all hashed (the diffID covers it)
    const chunks: Buffer[] = [];
    const z = createGzip({ level: 9 });
    z.on('data', (c: Buffer) => chunks.push(c));
    const done = new Promise((r) => z.on('end', r));
    z.write(tar([f('small', 'x')]));
    const zero = Buffer.alloc(1 << 20);
    for (let i = 0; i < 1024; i++) if (!z.write(zero)) await new Promise((r) => z.once('drain', r));
    z.end();
    await done;
    const bomb = Buffer.concat(chunks);
    expect(bomb.length).toBeLessThan(2 << 20);
    let peakKB = 0;
    let timer: NodeJS.Timeout | undefined;
    const r = await applyTo(sb, [], {
      bytes: bomb,
      onSpawn: (pid) => {
        timer = setInterval(() => {
          try {
            const m = /VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
            if (m) peakKB = Math.max(peakKB, Number(m[1]));
          } catch {
            // exited
          }
        }, 20);
      },
    });
    clearInterval(timer);
    expect(r.size).toBe(tar([f('small', 'x')]).length + (1 << 30));
    expect(read('small')).toBe('x');
    expect(peakKB).toBeGreaterThan(0);
    expect(peakKB).toBeLessThan(200 * 1024);
  }, 120_000);
});

describe('a failed Apply onto an empty target leaves it empty (all or nothing)', () => {
  /** the target directory's own state: names, xattrs, owner, mode, mtime (put back through a double: to the µs) */
  const rootState = () => {
    const st = fs.lstatSync(sb.root, { bigint: true });
    return { names: fs.readdirSync(sb.root), xattrs: llistxattr(sb.root), uid: st.uid, gid: st.gid, mode: st.mode, mtimeNs: st.mtimeNs };
  };
  const sameRoot = (before: ReturnType<typeof rootState>) => {
    const { mtimeNs, ...now } = rootState();
    const { mtimeNs: was, ...rest } = before;
    expect(now).toEqual(rest);
    expect(mtimeNs > was ? mtimeNs - was : was - mtimeNs).toBeLessThan(1000n);
  };
  const big = 'b'.repeat(1 << 16);
  const cases: Array<{ name: string; layer: () => Buffer; error: RegExp }> = [
    {
      // a top-level opaque marker and whiteout first: overlay mode marks the target root itself
      name: 'a refused `../` hardlink after good entries',
      layer: () =>
        gz(
          tar([
            f('.wh..wh..opq'),
            f('.wh.gone'),
            d('etc'),
            f('etc/a', 'x'),
            s('out', sb.outside),
            f('out/PWN', 'in-root'),
            h('etc/x', `../../../..${sb.canary}`),
          ]),
        ),
      error: /"etc\/x".*ENOENT/,
    },
    {
      name: 'a truncated gzip stream after some entries',
      layer: () => {
        const g = gz(
          tar([
            f('.wh..wh..opq'),
            d('usr'),
            f('usr/a', 'a'),
            d('usr/lib'),
            f('usr/lib/b', 'b'),
            s('usr/sh', '/bin/busybox'),
            f('usr/big', big),
            f('usr/big2', big),
          ]),
        );
        return g.subarray(0, g.length - 64);
      },
      error: /gzip stream/,
    },
    {
      name: 'a whiteout escaping its directory',
      layer: () => gz(tar([f('.wh..wh..opq'), d('a'), d('a/b'), f('a/b/c', 'c'), f('a/.wh.b'), f('a/b/.wh...')])),
      error: /invalid whiteout name/,
    },
  ];
  for (const mode of ['plain', 'overlay'] as const) {
    for (const c of cases) {
      it(`${mode}: ${c.name}`, async () => {
        sb = sandbox();
        const before = rootState();
        expect(before.names).toEqual([]);
        await refused([], c.error, { mode, bytes: c.layer() });
        expect(fs.readdirSync(sb.root)).toEqual([]);
        sameRoot(before);
      });
    }

    it(`${mode}: an unpack child killed midway`, async () => {
      sb = sandbox();
      const before = rootState();
      const many = Array.from({ length: 2000 }, (_, i) => f(`d${i % 50}/f${i}`, big));
      let timer: NodeJS.Timeout | undefined;
      let killed = false;
      const err = await applyTo(sb, [f('.wh..wh..opq'), ...many], {
        mode,
        onSpawn: (pid) => {
          // kill it once it has written something
          timer = setInterval(() => {
            if (fs.readdirSync(sb.root).length > 2 && !killed) {
              killed = true;
              process.kill(pid, 'SIGKILL');
            }
          }, 5);
        },
      }).catch((e: BerthError) => e);
      clearInterval(timer);
      expect(killed).toBe(true);
      expect((err as BerthError).message).toMatch(/killed by SIGKILL/);
      expect(fs.readdirSync(sb.root)).toEqual([]);
      sameRoot(before);
    });
  }

  it('a non-empty target keeps its files and the entries before the failure (callers remove the snapshot)', async () => {
    sb = sandbox();
    fs.mkdirSync(inRoot('etc'));
    fs.writeFileSync(inRoot('etc/keep'), 'kept');
    await refused([d('etc'), f('etc/new', 'n'), f('top', 't'), h('bad', '../missing')], /"bad".*ENOENT/);
    expect(read('etc/keep')).toBe('kept');
    expect(read('etc/new')).toBe('n');
    expect(read('top')).toBe('t');
  });
});
