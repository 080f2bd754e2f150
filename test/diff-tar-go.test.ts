import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Parser, type ReadEntry } from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TarEntry, TarReader } from '../core/archive/tar.ts';
import { encodeHeader, endOfArchive, padding } from '../core/archive/tar-writer.ts';
import { base256, d, f, h, paxBody, type RawEntry, s, tar } from './support/layers/tarbuild.ts';

/**
 * berth's tar reader against Go's archive/tar, the reader containerd, Docker and most image
 * scanners read layers with: for every layer of the corpus below, berth reads the same entries
 * (name, type, size, link target, mode, owner, mtime, device numbers, xattrs, body) as Go, or
 * refuses the layer where Go refuses it or where containerd's applier refuses what Go returns
 * (entry types other than file/dir/link/symlink/devices/fifo). The few layers berth refuses
 * although Go reads them are listed with their reason (`berthRefuses`). node-tar, which
 * berth used to decode headers with, is compared with Go too: where it reads a layer
 * differently, the case says how (`nodeTar`), and the test checks that it still does.
 *
 * The Go side is test/layers/tarlist.go, built here with Debian's `go` (stdlib only, GOPATH and
 * GOCACHE in a temp dir).
 */

const go = spawnSync('go', ['version'], { encoding: 'utf8' });
const skipReason = go.status === 0 ? '' : 'go is not installed (Debian package golang-go)';

interface Case {
  name: string;
  tar: Buffer;
  /** berth refuses this layer although Go reads it: the reason, and the error berth gives */
  berthRefuses?: { why: string; error: RegExp };
  /** how node-tar reads this layer differently from Go (checked: it must still differ) */
  nodeTar?: string;
}

// ---------------------------------------------------------------------------------------------
// The corpus

const meta = (type: 'x' | 'g', recs: Record<string, string | Buffer>, name = type === 'g' ? 'pax_global_header' : 'PaxHeader'): RawEntry => ({
  name,
  type,
  data: paxBody(recs),
});
const longName = (name: string | Buffer): RawEntry => ({ name: '././@LongLink', type: 'L', data: typeof name === 'string' ? `${name}\0` : name });
const longLink = (name: string): RawEntry => ({ name: '././@LongLink', type: 'K', data: `${name}\0` });
const field = (off: number, v: string | Buffer): [number, string | Buffer] => [off, v];
/** the GNU magic ("ustar  \0") instead of ustar's */
const gnuMagic = field(257, 'ustar  \0');
/** no magic at all: a V7 header */
const v7Magic = field(257, Buffer.alloc(8));
const ok = (name: string) => f(name, `body of ${name}`);
const noEnd = (entries: RawEntry[]) => tar(entries, false);

const corpus: Case[] = [
  // global PAX headers: an entry of their own, never merged into later headers
  {
    name: 'a global PAX path does not rename later entries',
    tar: tar([meta('g', { path: 'etc/cron.d/evil' }), ok('bin/ok'), ok('bin/two')]),
  },
  {
    name: 'a global PAX size, linkpath, uid, gid, mtime do not change later entries',
    tar: tar([meta('g', { size: '0', linkpath: 'etc/shadow', uid: '7', gid: '8', mtime: '5' }), f('a', 'data', { uid: 1 }), h('b', 'a'), s('c', 'a')]),
    nodeTar: 'applies the global records to later entries',
  },
  {
    name: 'a global PAX xattr is not set on later entries',
    tar: tar([meta('g', { 'SCHILY.xattr.security.capability': Buffer.from([1, 0, 0, 2, 0xff, 0xff, 0xff, 0xff]) }), ok('bin/ping')]),
  },
  {
    name: 'an x header before a global header is dropped',
    tar: tar([meta('x', { path: 'etc/evil' }), meta('g', { comment: 'c' }), ok('ok')]),
    nodeTar: 'keeps the x header for the entry after the global header',
  },
  {
    name: 'a GNU long name before a global header is dropped',
    tar: tar([longName('etc/evil'), meta('g', { comment: 'c' }), ok('ok')]),
    nodeTar: 'keeps the long name for the entry after the global header',
  },
  { name: 'a malformed global PAX header is an error', tar: tar([{ name: 'g', type: 'g', data: '5 a\n' }, ok('ok')]), nodeTar: 'ignores the malformed record' },
  // extended headers and GNU long names
  {
    name: 'a second x header replaces the first one',
    tar: tar([meta('x', { path: 'first', uid: '5' }), meta('x', { gid: '6' }), ok('ok')]),
    nodeTar: 'merges both x headers',
  },
  { name: 'an empty PAX path keeps the ustar name', tar: tar([f('ok', 'x', { pax: { path: '' } })]), nodeTar: 'names the entry ""' },
  { name: 'an empty GNU long name keeps the ustar name', tar: tar([longName(Buffer.alloc(3)), ok('ok')]), nodeTar: 'names the entry ""' },
  { name: 'a GNU long name beats the PAX path (x first)', tar: tar([meta('x', { path: 'pax' }), longName('gnu'), ok('ustar')]) },
  {
    name: 'a GNU long name beats the PAX path (L first)',
    tar: tar([longName('gnu'), meta('x', { path: 'pax' }), ok('ustar')]),
    nodeTar: 'the later of the two wins: the PAX path',
  },
  {
    name: 'a GNU long link beats the PAX linkpath (x first)',
    tar: tar([ok('t1'), ok('t2'), meta('x', { linkpath: 't2' }), longLink('t1'), h('l', 'ustar-target')]),
  },
  {
    name: 'a GNU long link beats the PAX linkpath (K first)',
    tar: tar([ok('t1'), ok('t2'), longLink('t1'), meta('x', { linkpath: 't2' }), h('l', 'ustar-target')]),
    nodeTar: 'the later of the two wins: the PAX linkpath',
  },
  { name: 'a GNU long name ends at its first NUL', tar: tar([longName(Buffer.from('good\0../../etc/evil\0')), ok('x')]) },
  { name: 'a NUL in a PAX path is an error', tar: tar([f('x', 'y', { pax: { path: 'ok\0/../../evil' } })]), nodeTar: 'cuts the path at the NUL' },
  { name: 'a NUL in a PAX linkpath is an error', tar: tar([s('x', 'y', { pax: { linkpath: 'a\0b' } })]), nodeTar: 'cuts the link target at the NUL' },
  { name: 'the PAX linkpath is the hardlink target', tar: tar([ok('a'), ok('b'), h('l', 'a', { pax: { linkpath: 'b' } })]) },
  { name: 'a PAX path ending in / makes an old-style file a directory', tar: tar([{ name: 'x', type: '\0', pax: { path: 'dir/' } }]) },
  { name: 'the PAX path and the ustar prefix', tar: tar([f('x', 'y', { pax: { path: 'pax/name' }, raw: [field(345, 'prefix')] })]) },
  { name: 'an x header at the end of the archive is ignored', tar: tar([ok('a'), meta('x', { path: 'b' })]) },
  { name: 'a GNU long name at the end of the archive is ignored', tar: tar([ok('a'), longName('b')]) },
  {
    name: 'binary and empty xattrs',
    tar: tar([
      f('x', 'y', {
        pax: {
          'SCHILY.xattr.security.capability': Buffer.from([1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
          'SCHILY.xattr.user.empty': '',
        },
      }),
    ]),
  },
  { name: 'an extended header larger than 1 MiB is an error', tar: tar([f('x', 'y', { pax: { comment: 'c'.repeat(1 << 20) } })]), nodeTar: 'reads it' },
  {
    name: 'a PAX record whose length runs past the header is an error',
    tar: tar([{ name: 'P', type: 'x', data: '99 path=a\n' }, ok('ok')]),
    nodeTar: 'ignores the record',
  },
  { name: 'a PAX record without a newline is an error', tar: tar([{ name: 'P', type: 'x', data: '11 path=ab ' }, ok('ok')]), nodeTar: 'ignores the record' },
  { name: 'a PAX record without a key is an error', tar: tar([{ name: 'P', type: 'x', data: '7 =abc\n' }, ok('ok')]), nodeTar: 'ignores the record' },
  {
    name: 'a PAX record length with a sign and leading zeros',
    tar: tar([{ name: 'P', type: 'x', data: '+0013 path=ab\n' }, ok('ok')]),
    nodeTar: 'ignores the record',
  },
  // sizes and numbers
  { name: 'a PAX size over 8 GiB on a directory carries no body', tar: tar([d('dir', { pax: { size: '9000000000' } }), ok('after')]) },
  { name: 'a PAX size over 8 GiB on a cut-off file is an error', tar: noEnd([f('big', 'x'.repeat(1000), { pax: { size: '9000000000' } })]) },
  { name: 'a PAX size with a plus sign', tar: tar([f('x', 'hello', { size: 0, pax: { size: '+5' } })]) },
  { name: 'a PAX size with a space is an error', tar: tar([f('x', 'hello', { pax: { size: ' 5' } })]), nodeTar: 'ignores the record' },
  { name: 'a negative PAX size is an error', tar: tar([f('x', 'hello', { pax: { size: '-5' } })]), nodeTar: 'ignores the record' },
  { name: 'PAX uid and gid with leading zeros and a sign', tar: tar([f('x', 'y', { pax: { uid: '007', gid: '+8' } })]) },
  { name: 'a non-numeric PAX uid is an error', tar: tar([f('x', 'y', { pax: { uid: '1e9' } })]), nodeTar: 'ignores the record' },
  { name: 'an empty PAX uid keeps the header uid', tar: tar([f('x', 'y', { uid: 12, pax: { uid: '' } })]) },
  {
    name: 'a negative PAX uid',
    tar: tar([f('x', 'y', { pax: { uid: '-1' } })]),
    berthRefuses: { why: 'no file can be owned by it (containerd would chown to -1: leave the owner as is)', error: /uid -1 out of range/ },
  },
  {
    name: 'a PAX gid beyond 32 bits',
    tar: tar([f('x', 'y', { pax: { gid: '4294967296' } })]),
    berthRefuses: { why: 'the kernel takes 32 bits: containerd would chown to the gid modulo 2^32', error: /gid 4294967296 out of range/ },
  },
  {
    name: 'PAX mtimes with fractions, negative, a bare dot, more than nanoseconds',
    tar: tar([
      f('a', '', { pax: { mtime: '1.5' } }),
      f('b', '', { pax: { mtime: '-1.25' } }),
      f('c', '', { pax: { mtime: '7.' } }),
      f('e', '', { pax: { mtime: '1.1234567891' } }),
    ]),
  },
  { name: 'a PAX mtime without seconds is an error', tar: tar([f('a', '', { pax: { mtime: '.5' } })]), nodeTar: 'reads it' },
  { name: 'a PAX mtime with two dots is an error', tar: tar([f('a', '', { pax: { mtime: '1.5.5' } })]), nodeTar: 'reads it' },
  { name: 'an invalid PAX atime is an error', tar: tar([f('a', '', { pax: { atime: 'soon' } })]), nodeTar: 'reads it' },
  { name: 'an invalid PAX ctime is an error', tar: tar([f('a', '', { pax: { ctime: '1.x' } })]), nodeTar: 'reads it' },
  {
    name: 'base-256 size, uid, gid and mtime',
    tar: tar([
      f('x', 'hello', { raw: [field(124, base256(5n, 12)), field(108, base256(70000000n, 8)), field(116, base256(3n, 8)), field(136, base256(-1n, 12))] }),
    ]),
  },
  { name: 'a negative base-256 size on a file is an error', tar: tar([f('x', '', { raw: [field(124, base256(-1n, 12))] })]), nodeTar: 'reads size -1 as 0' },
  { name: 'a negative base-256 size on a directory is ignored', tar: tar([d('dir', { raw: [field(124, base256(-1n, 12))] }), ok('after')]) },
  {
    name: 'a base-256 size beyond 63 bits is an error',
    tar: tar([f('x', '', { raw: [field(124, Buffer.from([0x80, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]))] })]),
  },
  { name: 'a base-256 mode keeps the permission bits', tar: tar([f('x', '', { raw: [field(100, base256(0o104755n, 8))] })]) },
  // the ustar prefix and the header formats
  { name: 'the ustar prefix is joined to the name', tar: tar([f('x', 'y', { raw: [field(345, 'pre/fix')] })]) },
  { name: 'a GNU header has no prefix (its bytes are times there)', tar: tar([f('x', 'y', { raw: [gnuMagic, field(345, '12345670123\0')] })]) },
  {
    name: 'a GNU header whose times do not parse takes them as a prefix (pre-Go 1.8 archives)',
    tar: tar([f('x', 'y', { raw: [gnuMagic, field(345, 'pre/fix')] })]),
    nodeTar: 'ignores the prefix',
  },
  {
    name: 'a V7 header has no prefix and no device numbers',
    tar: tar([{ name: 'dev', type: '3', devmajor: 1, devminor: 3, raw: [v7Magic, field(345, 'pre/fix')] }]),
  },
  {
    name: 'a star header has a shorter prefix and times',
    tar: tar([f('x', 'y', { raw: [field(345, 'p'.repeat(131)), field(476, '00000000001\0'), field(508, 'tar\0')] })]),
    nodeTar: 'reads the times as part of the prefix',
  },
  {
    name: 'a star header with invalid times is an error',
    tar: tar([f('x', 'y', { raw: [field(345, 'pre'), field(476, 'notanumber!\0'), field(508, 'tar\0')] })]),
    nodeTar: 'reads it',
  },
  // string and number fields
  { name: 'a name ends at its first NUL', tar: tar([f('ok\0../../etc/evil', 'x'), s('l\0x', 'target\0/etc/shadow')]) },
  {
    name: 'numbers padded and terminated with spaces or NULs',
    tar: tar([f('x', 'hello', { raw: [field(124, '     5 \0\0   '), field(100, '\0\0 755  '), field(108, '1\x002\0\0\0\0\0')] })]),
  },
  { name: 'a size with a non-octal digit is an error', tar: tar([f('x', '', { raw: [field(124, '0000000009\0\0')] })]), nodeTar: 'reads it' },
  { name: 'a size with a space between digits is an error', tar: tar([f('x', 'y', { raw: [field(124, '0000001 1\0\0\0')] })]), nodeTar: 'reads it' },
  { name: 'a non-numeric mode is an error', tar: tar([f('x', '', { raw: [field(100, 'rwxr-xr\0')] })]), nodeTar: 'reads it' },
  { name: 'a non-numeric uid is an error', tar: tar([f('x', '', { raw: [field(108, 'root\0\0\0\0')] })]), nodeTar: 'reads it' },
  { name: 'a non-numeric mtime is an error', tar: tar([f('x', '', { raw: [field(136, 'yesterday\0\0\0')] })]), nodeTar: 'reads it' },
  { name: 'a non-numeric device number is an error', tar: tar([{ name: 'dev', type: '3', raw: [field(329, 'major\0\0\0')] }]), nodeTar: 'reads it' },
  // checksums
  { name: 'a signed checksum (old Sun tar) is accepted', tar: tar([f('übung', 'x', { checksum: 'signed' })]), nodeTar: 'refuses it' },
  { name: 'a wrong checksum is an error', tar: tar([ok('a'), f('b', 'x', { checksum: 1234 })]) },
  { name: 'a non-octal checksum is an error', tar: tar([f('b', 'x', { raw: [field(148, 'zz')] })]) },
  // the end of the archive
  { name: 'entries after two zero blocks are ignored', tar: Buffer.concat([tar([ok('a')]), tar([ok('hidden')])]) },
  {
    name: 'a header after one zero block is an error',
    tar: Buffer.concat([noEnd([ok('a')]), Buffer.alloc(512), tar([ok('hidden')])]),
    nodeTar: 'reads the hidden entry',
  },
  { name: 'no end-of-archive marker', tar: noEnd([ok('a')]) },
  { name: 'one zero block, then EOF', tar: Buffer.concat([noEnd([ok('a')]), Buffer.alloc(512)]) },
  { name: 'an empty stream', tar: Buffer.alloc(0), nodeTar: 'refuses it' },
  { name: 'a header cut short', tar: noEnd([ok('a'), ok('b')]).subarray(0, 1024 + 300), nodeTar: 'ignores the cut header' },
  { name: 'a body cut short', tar: noEnd([f('a', 'x'.repeat(600))]).subarray(0, 900) },
  { name: 'a stream that ends within the padding after a complete body', tar: noEnd([f('a', 'x'.repeat(600))]).subarray(0, 512 + 700), nodeTar: 'refuses it' },
  // types containerd does not apply, and sparse files
  {
    name: 'a contiguous file (type 7) is refused by containerd',
    tar: tar([{ name: 'c', type: '7', data: 'x' }]),
    nodeTar: 'reads it (containerd applies no such type)',
  },
  {
    name: 'an unknown entry type is refused by containerd',
    tar: tar([ok('a'), { name: 'v', type: 'V', data: 'label' }]),
    nodeTar: 'reads it (containerd applies no such type)',
  },
  {
    name: 'an old GNU sparse file (type S) is refused by containerd',
    tar: tar([
      {
        name: 'sparse',
        type: 'S',
        data: 'x'.repeat(512),
        raw: [gnuMagic, field(386, '00000000000\0'), field(398, '00000001000\0'), field(483, '00000010000\0')],
      },
    ]),
    nodeTar: 'reads it (containerd applies no such type)',
  },
  {
    name: 'a PAX sparse file (format 1.0)',
    tar: tar([
      {
        name: 'GNUSparseFile.0/real',
        type: '0',
        data: Buffer.concat([Buffer.from('1\n0\n5\n'.padEnd(512, '\0')), Buffer.from('hello')]),
        pax: { 'GNU.sparse.major': '1', 'GNU.sparse.minor': '0', 'GNU.sparse.name': 'etc/cron.d/evil', 'GNU.sparse.realsize': '10' },
      },
    ]),
    berthRefuses: {
      why: 'sparse files are not supported (no image builder writes them); read as a plain file it would be named and filled differently',
      error: /sparse files are not supported/,
    },
    nodeTar: 'reads a plain file named GNUSparseFile.0/real, with the sparse map as data',
  },
  {
    name: 'a PAX sparse file (format 0.0)',
    tar: tar([f('real', 'hello', { pax: { 'GNU.sparse.size': '10', 'GNU.sparse.numblocks': '1', 'GNU.sparse.offset': '0', 'GNU.sparse.numbytes': '5' } })]),
    berthRefuses: { why: 'sparse files are not supported', error: /sparse files are not supported/ },
    nodeTar: 'reads a plain file of 5 bytes',
  },
  {
    name: 'a PAX sparse map out of order is an error',
    tar: tar([f('real', 'hello', { pax: { 'GNU.sparse.numbytes': '5', 'GNU.sparse.offset': '0' } })]),
    nodeTar: 'reads a plain file',
  },
  {
    name: 'an unknown PAX sparse version is a plain file',
    tar: tar([f('real', 'hello', { pax: { 'GNU.sparse.major': '9', 'GNU.sparse.minor': '0', 'GNU.sparse.name': 'other' } })]),
  },
  // what berth cannot represent
  {
    name: 'a name that is not valid UTF-8',
    tar: tar([{ name: 'x', type: '0', raw: [field(0, Buffer.from([0x61, 0xff, 0]))] }]),
    berthRefuses: { why: "berth's file system calls take UTF-8 strings: the bytes would be written as U+FFFD", error: /name is not valid UTF-8/ },
  },
  {
    name: 'a name longer than 4096 bytes',
    tar: tar([longName('a/'.repeat(2100)), ok('x')]),
    berthRefuses: { why: 'no Linux path is longer (PATH_MAX); containerd fails on it with ENAMETOOLONG', error: /name longer than 4096/ },
    nodeTar: 'refuses it (checksum failure)',
  },
];

// ---------------------------------------------------------------------------------------------
// The three readers

interface GoEntry {
  name: string;
  type: string;
  size: number;
  linkname: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  devmajor: number;
  devminor: number;
  xattrs: Record<string, string>;
  body: string;
}
interface Reading<E> {
  entries: E[];
  error?: string;
}

const bodyDigest = (b: Buffer) => createHash('sha256').update(b).digest('hex').slice(0, 16);

function berthRead(bytes: Buffer, chunk: number): Reading<GoEntry> {
  const entries: GoEntry[] = [];
  let parts: Buffer[] = [];
  let current: TarEntry | undefined;
  const types: Record<TarEntry['type'], string> = { file: '0', link: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' };
  const reader = new TarReader({
    entry: (e) => {
      current = e;
      parts = [];
    },
    data: (c) => parts.push(Buffer.from(c)),
    end: () => {
      const e = current!;
      const xattrs = Object.fromEntries([...e.xattrs].map(([k, v]) => [k, v.toString('hex')]));
      entries.push({
        name: e.name,
        type: types[e.type],
        size: e.size,
        linkname: e.linkname,
        mode: e.mode,
        uid: e.uid,
        gid: e.gid,
        mtime: e.mtime,
        devmajor: e.devmajor,
        devminor: e.devminor,
        xattrs,
        body: bodyDigest(Buffer.concat(parts)),
      });
    },
  });
  try {
    for (let at = 0; at < bytes.length; at += chunk) reader.feed(bytes.subarray(at, at + chunk));
    reader.close();
    return { entries };
  } catch (err) {
    return { entries, error: (err as Error).message };
  }
}

/** What containerd applies of Go's reading: global headers are skipped; other types are refused. */
function goApplied(r: Reading<GoEntry>): Reading<GoEntry> {
  const entries: GoEntry[] = [];
  for (const e of r.entries) {
    if (e.type === 'g') continue;
    if (!'0123456'.includes(e.type)) return { entries, error: `unhandled tar header type ${e.type}` };
    // only regular files have a body: the size of other types is not one
    entries.push({ ...e, size: e.type === '0' ? e.size : 0, mode: e.mode & 0o7777 });
  }
  return { entries, error: r.error };
}

const nodeTypes: Record<string, string> = {
  File: '0',
  OldFile: '0',
  Link: '1',
  SymbolicLink: '2',
  CharacterDevice: '3',
  BlockDevice: '4',
  Directory: '5',
  FIFO: '6',
  ContiguousFile: '7',
};
interface Listed {
  name: string;
  type: string;
  size: number;
  linkname: string;
}

async function nodeTarRead(bytes: Buffer): Promise<Reading<Listed>> {
  const entries: Listed[] = [];
  const parser = new Parser({ strict: true });
  return new Promise((resolve) => {
    let error: string | undefined;
    parser.on('entry', (e: ReadEntry) => {
      entries.push({
        name: e.path,
        type: nodeTypes[e.type] ?? e.type,
        size: e.type === 'File' || e.type === 'OldFile' ? e.size : 0,
        linkname: e.linkpath ?? '',
      });
      e.resume();
    });
    parser.on('error', (err: Error) => (error ??= err.message));
    parser.on('close', () => resolve({ entries, error }));
    parser.end(bytes);
  });
}

const listed = (r: Reading<GoEntry>): Reading<Listed> => ({
  entries: r.entries.map(({ name, type, size, linkname }) => ({ name, type, size, linkname })),
  error: r.error,
});

// ---------------------------------------------------------------------------------------------

describe.skipIf(skipReason !== '')(`berth reads layers as Go's archive/tar does${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let dir = '';
  const goReadings = new Map<string, Reading<GoEntry>>();

  /** Go's reading of each layer, as containerd applies it. */
  const goRead = (layers: Buffer[]): Array<Reading<GoEntry>> => {
    const files = layers.map((layer, i) => {
      const file = join(dir, `${i}.tar`);
      fs.writeFileSync(file, layer);
      return file;
    });
    const lines = execFileSync(join(dir, 'tarlist'), files, { encoding: 'utf8', maxBuffer: 1 << 28 })
      .trim()
      .split('\n');
    for (const file of files) fs.rmSync(file);
    expect(lines).toHaveLength(layers.length);
    return lines.map((line) => goApplied(JSON.parse(line) as Reading<GoEntry>));
  };

  beforeAll(() => {
    dir = fs.mkdtempSync(join(tmpdir(), 'berth-tar-go-'));
    fs.copyFileSync(join(import.meta.dirname, 'support', 'layers', 'tarlist.go'), join(dir, 'main.go'));
    const env = { ...process.env, GO111MODULE: 'off', GOPATH: join(dir, 'gopath'), GOCACHE: join(dir, 'gocache'), GOFLAGS: '', CGO_ENABLED: '0' };
    execFileSync('go', ['build', '-o', join(dir, 'tarlist'), join(dir, 'main.go')], { cwd: dir, env, stdio: 'pipe' });
    for (const [i, reading] of goRead(corpus.map((c) => c.tar)).entries()) goReadings.set(corpus[i]!.name, reading);
  }, 120_000);

  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it.each(corpus.map((c) => [c.name, c] as const))('%s', async (_, c) => {
    const goReading = goReadings.get(c.name)!;
    const goRefuses = goReading.error !== undefined;
    for (const chunk of [1, 511, 4096, 1 << 20]) {
      const berth = berthRead(c.tar, chunk);
      if (c.berthRefuses) {
        expect(goRefuses, 'Go reads it, or the case is not a divergence').toBe(false);
        expect(berth.error).toMatch(c.berthRefuses.error);
      } else if (goRefuses) {
        // refused, after the same entries up to the failing one
        expect(berth.error, `Go: ${goReading.error}`).toMatch(/^invalid archive/);
        expect(berth.entries).toEqual(goReading.entries.slice(0, berth.entries.length));
      } else {
        expect(berth).toEqual({ entries: goReading.entries });
      }
    }
    const nodeTar = await nodeTarRead(c.tar);
    // node-tar is compared on what it lists: the outcome, names, types, sizes and link targets
    const goListed = listed(goReading);
    const nodeView = { refuses: nodeTar.error !== undefined, entries: nodeTar.entries };
    const goView = { refuses: goRefuses, entries: goRefuses ? goListed.entries.slice(0, nodeTar.entries.length) : goListed.entries };
    if (c.nodeTar === undefined) expect(nodeView, `node-tar: ${nodeTar.error ?? 'no error'}; Go: ${goReading.error ?? 'no error'}`).toEqual(goView);
    else expect(nodeView, `listed as a node-tar divergence (${c.nodeTar}), but node-tar reads it as Go does`).not.toEqual(goView);
  });

  it('reads 2000 seeded mutations of the corpus as Go does, apart from the listed refusals', () => {
    let seed = 20261206;
    const rand = (n: number) => {
      seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) | 0;
      return (seed >>> 0) % n;
    };
    const seeds = corpus.filter((c) => c.tar.length > 0 && c.tar.length % 512 === 0 && c.tar.length < 16384).map((c) => c.tar);
    const layers = Array.from({ length: 2000 }, () => {
      const b = Buffer.from(seeds[rand(seeds.length)]!);
      for (let n = 1 + rand(4); n > 0; n--) {
        const block = rand(b.length / 512) * 512;
        const bytes = [0, 0x20, 0x30 + rand(8), 0x80, 0xff, rand(256), 0x2f, 0x0a, 0x3d];
        b[block + rand(512)] = bytes[rand(bytes.length)]!;
        if (rand(4) !== 0) {
          // most mutated headers get a valid checksum, so that the fields behind it are read
          b.fill(0x20, block + 148, block + 156);
          let sum = 0;
          for (let i = block; i < block + 512; i++) sum += b[i]!;
          b.write(`${sum.toString(8).padStart(6, '0')}\0 `, block + 148, 8, 'latin1');
        }
      }
      return b;
    });
    const listedRefusals = new RegExp(corpus.flatMap((c) => (c.berthRefuses ? [c.berthRefuses.error.source] : [])).join('|'));
    const differences: string[] = [];
    for (const [i, goReading] of goRead(layers).entries()) {
      const berth = berthRead(layers[i]!, 4096);
      if (berth.error !== undefined && listedRefusals.test(berth.error)) continue;
      const same =
        (berth.error !== undefined) === (goReading.error !== undefined) &&
        JSON.stringify(berth.entries) === JSON.stringify(goReading.error === undefined ? goReading.entries : goReading.entries.slice(0, berth.entries.length));
      if (!same) differences.push(`mutation ${i}: Go ${JSON.stringify(goReading)}\nberth ${JSON.stringify(berth)}`);
    }
    expect(differences.slice(0, 3)).toEqual([]);
  }, 120_000);

  it("reads the tars berth writes (Diff's output) as berth means them", () => {
    const entry = (e: Partial<TarEntry> & { name: string }): TarEntry => ({
      type: 'file',
      mode: 0o644,
      uid: 0,
      gid: 0,
      size: 0,
      mtime: 1_700_000_000,
      linkname: '',
      devmajor: 0,
      devminor: 0,
      xattrs: new Map(),
      ...e,
    });
    const body = Buffer.from('hello world');
    const entries = [
      entry({
        name: `${'d/'.repeat(80)}file`,
        size: body.length,
        uid: 1 << 30,
        gid: 3_000_000,
        mtime: 1_700_000_000.25,
        xattrs: new Map([
          ['security.capability', Buffer.from([1, 0, 0, 2, 0, 10, 0])],
          ['user.nl', Buffer.from('a\nb=c')],
        ]),
      }),
      entry({ name: 'l', type: 'symlink', mode: 0o777, linkname: `/${'t'.repeat(300)}` }),
      entry({ name: 'dev', type: 'block', devmajor: 259, devminor: 12345, mode: 0o660 }),
      entry({ name: 'dir/', type: 'dir', mode: 0o1777, mtime: -5 }),
      entry({ name: 'ü-ñame', type: 'link', linkname: 'l', mode: 0o4755 }),
    ];
    const layer = Buffer.concat(
      entries.flatMap((e) => (e.type === 'file' ? [encodeHeader(e), body, Buffer.alloc(padding(body.length))] : [encodeHeader(e)])).concat(endOfArchive()),
    );
    const [goReading] = goRead([layer]);
    expect(goReading).toEqual(berthRead(layer, 4096));
    expect(goReading!.entries.map((e) => [e.name, e.linkname, e.uid, e.gid, e.mtime])).toEqual(entries.map((e) => [e.name, e.linkname, e.uid, e.gid, e.mtime]));
  });
});
