import { Header } from 'tar';
import { BerthError } from '../../proto/errors.ts';

/**
 * A strict, streaming, binary-safe tar reader and a deterministic tar header writer.
 *
 * The 512-byte ustar/GNU header itself is decoded by node-tar's `Header` (checksum, base-256
 * numbers, ustar prefix). PAX records are parsed here because node-tar's PAX parser drops
 * `SCHILY.xattr.*` and cuts values at NUL and newline, which loses binary xattrs such as
 * security.capability.
 */

export type EntryType = 'file' | 'link' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

export interface TarEntry {
  name: string;
  type: EntryType;
  /** permission bits incl. setuid/setgid/sticky */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** seconds since the epoch, with fraction when PAX gave one */
  mtime: number;
  linkname: string;
  devmajor: number;
  devminor: number;
  /** from PAX SCHILY.xattr.<name> */
  xattrs: Map<string, Buffer>;
}

/** The one error type of the diff code: an invalid archive, reported as InvalidArgument. */
export function invalidArchive(message: string, entry?: string): BerthError {
  return new BerthError('InvalidArgument', `invalid archive${entry === undefined ? '' : `: entry ${JSON.stringify(entry)}`}: ${message}`);
}

const typeFlagTypes: Record<string, EntryType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'link',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'dir',
  '6': 'fifo',
};

const metaTypes: Record<string, string> = { x: 'ExtendedHeader', g: 'GlobalExtendedHeader', L: 'NextFileHasLongPath', K: 'NextFileHasLongLinkpath' };

/** The size field: octal, or GNU base-256 (a negative or huge one is refused). */
function decodeSize(block: Buffer, name: string | undefined): number {
  const field = block.subarray(124, 136);
  let n: number;
  if (field[0]! & 0x80) {
    if (field[0] === 0xff) throw invalidArchive('negative entry size', name);
    n = field[0]! & 0x7f;
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i]!;
  } else {
    const s = field.toString('latin1').replace(/[\0 ]+$/, '').replace(/^[ ]+/, '');
    if (!/^[0-7]*$/.test(s)) throw invalidArchive(`invalid size field ${JSON.stringify(s)}`, name);
    n = s === '' ? 0 : parseInt(s, 8);
  }
  if (!Number.isSafeInteger(n)) throw invalidArchive('entry size too large', name);
  return n;
}

/** Limits that keep a hostile archive from exhausting memory. */
export const maxMetaSize = 1 << 20;
export const maxNameLength = 4096;

export interface TarSink {
  entry(e: TarEntry): void;
  data(chunk: Buffer): void;
  end(): void;
}

/**
 * Push parser: feed() it bytes in any chunking; it calls the sink synchronously, in order. After
 * the end-of-archive marker the rest of the stream is accepted and ignored (so that it can still
 * be hashed to EOF, as containerd does).
 */
export class TarReader {
  private pending: Buffer[] = [];
  private pendingLen = 0;
  private state: 'header' | 'body' | 'meta' | 'done' = 'header';
  private remain = 0; // body bytes still to pass on
  private pad = 0; // padding bytes after the body
  private metaType = '';
  private metaBuf: Buffer[] = [];
  private pax: Map<string, Buffer> = new Map();
  private globalPax: Map<string, Buffer> = new Map();
  private longName: string | undefined;
  private longLink: string | undefined;
  private current = '';
  private sawEnd = false;

  constructor(private readonly sink: TarSink) {}

  feed(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.state === 'done') return;
      if (this.state === 'body' || this.state === 'meta') {
        if (this.remain > 0) {
          const n = Math.min(this.remain, chunk.length - off);
          const part = chunk.subarray(off, off + n);
          if (this.state === 'meta') this.metaBuf.push(Buffer.from(part));
          else this.sink.data(part);
          this.remain -= n;
          off += n;
          continue;
        }
        if (this.pad > 0) {
          const n = Math.min(this.pad, chunk.length - off);
          this.pad -= n;
          off += n;
          continue;
        }
        this.finishBody();
        continue;
      }
      // header: gather 512 bytes
      const n = Math.min(512 - this.pendingLen, chunk.length - off);
      this.pending.push(chunk.subarray(off, off + n));
      this.pendingLen += n;
      off += n;
      if (this.pendingLen === 512) {
        const block = Buffer.concat(this.pending, 512);
        this.pending = [];
        this.pendingLen = 0;
        this.header(block);
      }
    }
    if ((this.state === 'body' || this.state === 'meta') && this.remain === 0 && this.pad === 0) this.finishBody();
  }

  /** Call at EOF: throws when the archive was cut short. */
  close(): void {
    if (this.state === 'body' || this.state === 'meta' || this.pendingLen > 0) throw invalidArchive('unexpected end of archive (truncated)', this.current || undefined);
    if (!this.sawEnd) throw invalidArchive('unexpected end of archive (no end-of-archive marker)');
  }

  private header(block: Buffer) {
    if (block.every((b) => b === 0)) {
      // Two zero blocks end the archive; like Go's archive/tar, one followed by EOF does too.
      // What follows the marker is never parsed (containerd only drains it into the hash).
      if (this.longName !== undefined || this.longLink !== undefined || this.pax.size > 0) throw invalidArchive('extended header without an entry');
      if (this.sawEnd) this.state = 'done';
      this.sawEnd = true;
      return;
    }
    // as Go's reader: a header right after a single zero block is an error, not a new entry
    if (this.sawEnd) throw invalidArchive('invalid header after a zero block', this.current || undefined);
    const h = new Header(block);
    if (!h.cksumValid) throw invalidArchive('header checksum mismatch (not a tar archive or corrupted)', this.current || undefined);
    // node-tar's Header rewrites type and size in a few legacy cases; the raw fields are what Go's
    // archive/tar (containerd) reads, so they decide here
    const flag = String.fromCharCode(block[156]!);
    const size = decodeSize(block, h.path);
    const meta = metaTypes[flag];
    if (meta !== undefined) {
      if (size > maxMetaSize) throw invalidArchive(`${meta} of ${size} bytes exceeds ${maxMetaSize}`, h.path);
      this.metaType = meta;
      this.metaBuf = [];
      this.startBody('meta', size);
      return;
    }
    const pax = new Map([...this.globalPax, ...this.pax]);
    this.pax = new Map();
    const name = paxString(pax, 'path') ?? this.longName ?? h.path ?? '';
    const linkname = paxString(pax, 'linkpath') ?? this.longLink ?? h.linkpath ?? '';
    this.longName = undefined;
    this.longLink = undefined;
    this.current = name;
    if (name.includes('\0') || linkname.includes('\0')) throw invalidArchive('name contains NUL', name);
    if (name.length > maxNameLength || linkname.length > maxNameLength) throw invalidArchive(`name longer than ${maxNameLength} bytes`, name.slice(0, 200));
    const et = flag === '\0' && name.endsWith('/') ? 'dir' : typeFlagTypes[flag];
    if (et === undefined) throw invalidArchive(`unsupported entry type ${JSON.stringify(flag)}`, name);
    let entrySize = size;
    const paxSize = paxString(pax, 'size');
    if (paxSize !== undefined) {
      if (!/^[0-9]{1,15}$/.test(paxSize)) throw invalidArchive(`invalid PAX size ${JSON.stringify(paxSize)}`, name);
      entrySize = Number(paxSize);
    }
    // as in Go's archive/tar, only regular files have a body, whatever the size field says
    if (et !== 'file') entrySize = 0;
    const xattrs = new Map<string, Buffer>();
    for (const [k, v] of pax) if (k.startsWith('SCHILY.xattr.')) xattrs.set(k.slice('SCHILY.xattr.'.length), v);
    const e: TarEntry = {
      name,
      type: et,
      mode: (paxNumber(pax, 'mode', name) ?? h.mode ?? 0) & 0o7777,
      uid: paxNumber(pax, 'uid', name) ?? h.uid ?? 0,
      gid: paxNumber(pax, 'gid', name) ?? h.gid ?? 0,
      size: entrySize,
      mtime: paxTime(pax, 'mtime', name) ?? (h.mtime ? h.mtime.getTime() / 1000 : 0),
      linkname,
      devmajor: h.devmaj ?? 0,
      devminor: h.devmin ?? 0,
      xattrs,
    };
    this.sink.entry(e);
    this.startBody('body', entrySize);
  }

  private startBody(state: 'body' | 'meta', size: number) {
    this.state = state;
    this.remain = size;
    this.pad = (512 - (size % 512)) % 512;
  }

  private finishBody() {
    if (this.state === 'meta') {
      const buf = Buffer.concat(this.metaBuf);
      this.metaBuf = [];
      switch (this.metaType) {
        case 'ExtendedHeader':
          for (const [k, v] of parsePax(buf)) this.pax.set(k, v);
          break;
        case 'GlobalExtendedHeader':
          for (const [k, v] of parsePax(buf)) this.globalPax.set(k, v);
          break;
        case 'NextFileHasLongLinkpath':
          this.longLink = cString(buf);
          break;
        case 'NextFileHasLongPath':
          this.longName = cString(buf);
      }
    } else {
      this.sink.end();
    }
    this.state = 'header';
  }
}

const cString = (b: Buffer) => {
  const z = b.indexOf(0);
  return (z < 0 ? b : b.subarray(0, z)).toString('utf8');
};

/** PAX records: "<len> <key>=<value>\n", binary-safe (values may hold NUL and newlines). */
export function parsePax(buf: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let off = 0;
  while (off < buf.length) {
    const sp = buf.indexOf(0x20, off);
    if (sp < 0 || sp - off > 20) throw invalidArchive('malformed PAX record');
    const lenStr = buf.subarray(off, sp).toString('latin1');
    if (!/^[0-9]+$/.test(lenStr)) throw invalidArchive('malformed PAX record length');
    const len = Number(lenStr);
    if (len <= sp - off + 1 || off + len > buf.length || buf[off + len - 1] !== 0x0a) throw invalidArchive('malformed PAX record');
    const rec = buf.subarray(sp + 1, off + len - 1);
    const eq = rec.indexOf(0x3d);
    if (eq <= 0) throw invalidArchive('malformed PAX record (no key)');
    out.set(rec.subarray(0, eq).toString('utf8'), Buffer.from(rec.subarray(eq + 1)));
    off += len;
  }
  return out;
}

function paxString(pax: Map<string, Buffer>, key: string): string | undefined {
  const v = pax.get(key);
  return v === undefined ? undefined : v.toString('utf8');
}

function paxNumber(pax: Map<string, Buffer>, key: string, name: string): number | undefined {
  const s = paxString(pax, key);
  if (s === undefined) return undefined;
  if (!/^[0-9]{1,15}$/.test(s)) throw invalidArchive(`invalid PAX ${key} ${JSON.stringify(s)}`, name);
  return Number(s);
}

function paxTime(pax: Map<string, Buffer>, key: string, name: string): number | undefined {
  const s = paxString(pax, key);
  if (s === undefined) return undefined;
  if (!/^-?[0-9]{1,15}(\.[0-9]{0,9})?$/.test(s)) throw invalidArchive(`invalid PAX ${key} ${JSON.stringify(s)}`, name);
  return Number(s);
}

// ---------------------------------------------------------------------------------------------
// Writing

const typeFlags: Record<EntryType, string> = { file: '0', link: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' };

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

function octal(buf: Buffer, off: number, width: number, value: number): boolean {
  const s = Math.floor(value).toString(8);
  if (value < 0 || s.length > width - 1) return false;
  buf.write(s.padStart(width - 1, '0') + '\0', off, width, 'latin1');
  return true;
}

function ustarHeader(e: TarEntry, name: string, linkname: string, type: string, size: number): { block: Buffer; fits: boolean } {
  const b = Buffer.alloc(512);
  let fits = true;
  const nameBytes = Buffer.from(name);
  if (nameBytes.length > 100) fits = false;
  nameBytes.copy(b, 0, 0, Math.min(100, nameBytes.length));
  fits = octal(b, 100, 8, e.mode & 0o7777) && fits;
  fits = octal(b, 108, 8, e.uid) && fits;
  fits = octal(b, 116, 8, e.gid) && fits;
  fits = octal(b, 124, 12, size) && fits;
  fits = octal(b, 136, 12, Math.max(0, e.mtime)) && fits;
  if (e.mtime !== Math.floor(e.mtime)) fits = false;
  b.write(type, 156, 1, 'latin1');
  const linkBytes = Buffer.from(linkname);
  if (linkBytes.length > 100) fits = false;
  linkBytes.copy(b, 157, 0, Math.min(100, linkBytes.length));
  b.write('ustar\u000000', 257, 8, 'latin1');
  octal(b, 329, 8, e.devmajor);
  octal(b, 337, 8, e.devminor);
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const x of b) sum += x;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return { block: b, fits };
}

/** The bytes of one entry's header(s): a PAX header first when needed. The body follows. */
export function encodeHeader(e: TarEntry): Buffer {
  const size = e.type === 'file' ? e.size : 0;
  const type = typeFlags[e.type];
  const plain = ustarHeader(e, e.name, e.linkname, type, size);
  if (plain.fits && e.xattrs.size === 0) return plain.block;
  const recs: Buffer[] = [];
  if (Buffer.byteLength(e.name) > 100) recs.push(paxRecord('path', Buffer.from(e.name)));
  if (Buffer.byteLength(e.linkname) > 100) recs.push(paxRecord('linkpath', Buffer.from(e.linkname)));
  if (e.uid > 0o7777777) recs.push(paxRecord('uid', Buffer.from(String(e.uid))));
  if (e.gid > 0o7777777) recs.push(paxRecord('gid', Buffer.from(String(e.gid))));
  if (size > 0o77777777777) recs.push(paxRecord('size', Buffer.from(String(size))));
  if (e.mtime !== Math.floor(e.mtime) || e.mtime < 0 || e.mtime > 0o77777777777) recs.push(paxRecord('mtime', Buffer.from(formatTime(e.mtime))));
  for (const [k, v] of [...e.xattrs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) recs.push(paxRecord(`SCHILY.xattr.${k}`, v));
  const body = Buffer.concat(recs);
  const paxName = `PaxHeaders.0/${e.name.split('/').filter(Boolean).pop() ?? 'x'}`.slice(0, 99);
  const head = ustarHeader({ ...e, uid: 0, gid: 0, mtime: 0, mode: 0o644, devmajor: 0, devminor: 0 }, paxName, '', 'x', body.length).block;
  const clamp = { ...e, uid: Math.min(e.uid, 0o7777777), gid: Math.min(e.gid, 0o7777777), mtime: Math.min(Math.max(0, Math.floor(e.mtime)), 0o77777777777) };
  const main = ustarHeader(clamp, truncUtf8(e.name, 100), truncUtf8(e.linkname, 100), type, size > 0o77777777777 ? 0 : size).block;
  return Buffer.concat([head, body, Buffer.alloc(padding(body.length)), main]);
}

function truncUtf8(s: string, n: number): string {
  const b = Buffer.from(s);
  return b.length <= n ? s : b.subarray(0, n).toString('utf8');
}

function formatTime(t: number): string {
  const s = t.toFixed(9).replace(/\.?0+$/, '');
  return s === '' || s === '-' ? '0' : s;
}

export const padding = (n: number) => (512 - (n % 512)) % 512;

/** Two zero blocks: the end of an archive. */
export const endOfArchive = () => Buffer.alloc(1024);
