import { isUtf8 } from 'node:buffer';
import { BerthError } from '../errors.ts';

/**
 * A strict, streaming, binary-safe tar reader (the writer is tar-writer.ts).
 *
 * The reader gives every header field the meaning Go's archive/tar (what containerd, Docker and
 * most image scanners read layers with) gives it, so that berth writes exactly the entries those
 * tools see: header decoding as in Go's reader.go/strconv.go, and where Go accepts something
 * containerd's applier cannot apply (other entry types, sparse files) the layer is refused. PAX
 * values stay bytes (binary xattrs such as security.capability).
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
  '1': 'link',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'dir',
  '6': 'fifo',
};

/** Types whose size field never announces a body (Go's isHeaderOnlyType). */
const headerOnly = new Set(['1', '2', '3', '4', '5', '6']);

const metaTypes: Record<string, string> = { x: 'ExtendedHeader', g: 'GlobalExtendedHeader', L: 'NextFileHasLongPath', K: 'NextFileHasLongLinkpath' };

/** Limits that keep a hostile archive from exhausting memory. */
export const maxMetaSize = 1 << 20; // Go's maxSpecialFileSize
export const maxNameLength = 4096;
const maxId = 0xffffffff; // uid_t; Go accepts more and the kernel would truncate it

/*
 * Names are carried as byte strings (latin1, one char per byte) until the entry is complete, so
 * that a field Go would override never has to be valid UTF-8; the final name must be.
 */
const bytes = (b: Buffer) => b.toString('latin1');

/** A NUL-terminated field (Go's parseString): what follows the first NUL is not part of it. */
function cString(b: Buffer): Buffer {
  const z = b.indexOf(0);
  return z < 0 ? b : b.subarray(0, z);
}

/** Go's parseOctal: NULs and spaces around the digits are padding; anything else is an error. */
function parseOctal(f: Buffer, what: string): number {
  let lo = 0;
  let hi = f.length;
  while (lo < hi && (f[lo] === 0 || f[lo] === 0x20)) lo++;
  while (hi > lo && (f[hi - 1] === 0 || f[hi - 1] === 0x20)) hi--;
  const s = bytes(cString(f.subarray(lo, hi)));
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw invalidArchive(`invalid ${what} field ${JSON.stringify(s)}`);
  return parseInt(s, 8);
}

/** Go's parseNumeric: GNU base-256 (two's complement, may be negative) when the top bit is set, else octal. */
function parseNumericBig(f: Buffer, what: string): bigint {
  if (f.length === 0 || (f[0]! & 0x80) === 0) return BigInt(parseOctal(f, what));
  const inv = f[0]! & 0x40 ? 0xff : 0;
  let x = 0n;
  for (const [i, c] of f.entries()) x = (x << 8n) | BigInt((c ^ inv) & (i === 0 ? 0x7f : 0xff));
  if (x >> 63n) throw invalidArchive(`${what} field out of range`);
  return inv ? -x - 1n : x;
}

const parseNumeric = (f: Buffer, what: string) => Number(parseNumericBig(f, what));

/** Go's strconv.ParseInt(s, 10, 64), as used for PAX numbers. */
function parseDecimal(s: string): number | undefined {
  if (!/^[+-]?[0-9]+$/.test(s)) return undefined;
  const n = BigInt(s);
  return n < -(1n << 63n) || n >= 1n << 63n ? undefined : Number(n);
}

/** Go's parsePAXTime: seconds, optionally a fraction (cut to nanoseconds). */
function parsePaxTime(s: string): number | undefined {
  const dot = s.indexOf('.');
  const secs = parseDecimal(dot < 0 ? s : s.slice(0, dot));
  if (secs === undefined) return undefined;
  const frac = dot < 0 ? '' : s.slice(dot + 1);
  if (!/^[0-9]*$/.test(frac)) return undefined;
  const ns = Number(frac.slice(0, 9).padEnd(9, '0')) / 1e9;
  return s.startsWith('-') ? secs - ns : secs + ns;
}

const magicUstar = 'ustar\0';
const magicGnu = 'ustar ';
const versionGnu = ' \0';
const trailerStar = 'tar\0';

/** The fields of one 512-byte header as Go's readHeader decodes them; names are byte strings. */
interface RawHeader {
  flag: string;
  name: string;
  linkname: string;
  size: number;
  /** permission bits only */
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  devmajor: number;
  devminor: number;
}

function decodeHeader(b: Buffer): RawHeader {
  // the checksum: the unsigned sum (POSIX) or the signed one (old Sun tars) of the block, with
  // the checksum field itself counted as spaces
  const sum = parseOctal(b.subarray(148, 156), 'checksum');
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < 512; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : b[i]!;
    unsigned += c;
    signed += c < 0x80 ? c : c - 0x100;
  }
  if (sum !== unsigned && sum !== signed) throw invalidArchive('header checksum mismatch (not a tar archive or corrupted)');
  const magic = bytes(b.subarray(257, 263));
  const format =
    magic === magicUstar
      ? bytes(b.subarray(508, 512)) === trailerStar
        ? 'star'
        : 'ustar'
      : magic === magicGnu && bytes(b.subarray(263, 265)) === versionGnu
        ? 'gnu'
        : 'v7';
  const h: RawHeader = {
    flag: String.fromCharCode(b[156]!),
    name: bytes(cString(b.subarray(0, 100))),
    linkname: bytes(cString(b.subarray(157, 257))),
    size: parseNumeric(b.subarray(124, 136), 'size'),
    mode: Number(parseNumericBig(b.subarray(100, 108), 'mode') & 0o7777n),
    uid: parseNumeric(b.subarray(108, 116), 'uid'),
    gid: parseNumeric(b.subarray(116, 124), 'gid'),
    mtime: parseNumeric(b.subarray(136, 148), 'mtime'),
    devmajor: 0,
    devminor: 0,
  };
  if (format === 'v7') return h; // no prefix, no device numbers
  h.devmajor = parseNumeric(b.subarray(329, 337), 'devmajor');
  h.devminor = parseNumeric(b.subarray(337, 345), 'devminor');
  let prefix = '';
  if (format === 'ustar') prefix = bytes(cString(b.subarray(345, 500)));
  else if (format === 'star') {
    prefix = bytes(cString(b.subarray(345, 476)));
    parseNumeric(b.subarray(476, 488), 'atime');
    parseNumeric(b.subarray(488, 500), 'ctime');
  } else {
    // GNU has atime/ctime where ustar has its prefix; Go reads the bytes as a prefix only when
    // they do not parse as times (archives from Go before 1.8 wrote a prefix there)
    const times = [b.subarray(345, 357), b.subarray(357, 369)];
    const timesValid = times.every((t) => {
      if (t[0] === 0) return true;
      try {
        parseNumeric(t, 'time');
        return true;
      } catch {
        return false;
      }
    });
    const p = cString(b.subarray(345, 500));
    if (!timesValid && p.every((c) => c < 0x80)) prefix = bytes(p);
  }
  if (prefix !== '') h.name = `${prefix}/${h.name}`;
  return h;
}

/** The final name or link target: valid UTF-8 (Node's fs takes strings) and bounded. */
function entryString(s: string, what: string, entry: string): string {
  const b = Buffer.from(s, 'latin1');
  if (!isUtf8(b)) throw invalidArchive(`${what} is not valid UTF-8`, entry);
  const out = b.toString('utf8');
  if (b.length > maxNameLength) throw invalidArchive(`${what} longer than ${maxNameLength} bytes`, out.slice(0, 200));
  return out;
}

export interface TarSink {
  entry(e: TarEntry): void;
  data(chunk: Buffer): void;
  end(): void;
}

/**
 * Push parser: feed() it bytes in any chunking; it calls the sink synchronously, in order. After
 * the end-of-archive marker the rest of the stream is accepted and ignored (so that it can still
 * be hashed to EOF, as containerd does).
 *
 * Extended headers apply as Go applies them: a PAX 'x' header's records replace those of an
 * earlier 'x' and apply to the next entry only; GNU long names ('L', 'K') override PAX path and
 * linkpath; a global PAX header ('g') is an entry of its own that containerd ignores, so it
 * changes no later entry, and the extended headers pending before it are dropped.
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
  private longName = '';
  private longLink = '';
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

  /**
   * Call at EOF: throws when the archive was cut short. As in Go, the stream may end at any
   * header boundary (also without the end-of-archive marker) or within the padding after a
   * complete body; what extended headers were pending then is dropped.
   */
  close(): void {
    if (this.state === 'body' || this.state === 'meta') {
      if (this.remain > 0) throw invalidArchive('unexpected end of archive (truncated)', this.current || undefined);
      this.finishBody();
    }
    if (this.pendingLen > 0) throw invalidArchive('unexpected end of archive (truncated)', this.current || undefined);
  }

  private header(block: Buffer) {
    if (block.every((b) => b === 0)) {
      // Two zero blocks end the archive; like Go's archive/tar, one followed by EOF does too.
      // What follows the marker is never parsed (containerd only drains it into the hash).
      if (this.sawEnd) this.state = 'done';
      this.sawEnd = true;
      return;
    }
    // as Go's reader: a header right after a single zero block is an error, not a new entry
    if (this.sawEnd) throw invalidArchive('invalid header after a zero block', this.current || undefined);
    let h: RawHeader;
    try {
      h = decodeHeader(block);
    } catch (err) {
      throw this.current && err instanceof BerthError ? invalidArchive(`next header: ${err.message.replace(/^invalid archive: /, '')}`, this.current) : err;
    }
    // Go refuses a negative size before it looks at the type, except for types without a body
    if (h.size < 0 && !headerOnly.has(h.flag)) throw invalidArchive('negative entry size', entryLabel(h.name));
    const meta = metaTypes[h.flag];
    if (meta !== undefined) {
      if (h.size > maxMetaSize) throw invalidArchive(`${meta} of ${h.size} bytes exceeds ${maxMetaSize}`, entryLabel(h.name));
      this.metaType = meta;
      this.metaBuf = [];
      this.startBody('meta', h.size);
      return;
    }
    const pax = this.pax;
    this.pax = new Map();
    const merged = mergePax(h, pax);
    const raw = { name: this.longName || merged.name, linkname: this.longLink || merged.linkname };
    this.longName = '';
    this.longLink = '';
    const label = entryLabel(raw.name);
    this.current = label;
    const name = entryString(raw.name, 'name', label);
    const linkname = entryString(raw.linkname, 'link target', label);
    if (isSparse(pax)) throw invalidArchive('sparse files are not supported', label);
    const et = h.flag === '\0' && name.endsWith('/') ? 'dir' : typeFlagTypes[h.flag];
    // containerd's applier refuses every other type ('7', GNU 'S', 'V', ...) that Go returns
    if (et === undefined) throw invalidArchive(`unsupported entry type ${JSON.stringify(h.flag)}`, name);
    // as in Go's archive/tar, only regular files have a body, whatever the size field says
    const size = et === 'file' ? merged.size : 0;
    if (size < 0) throw invalidArchive('negative entry size', name);
    if (!Number.isSafeInteger(size)) throw invalidArchive('entry size too large', name);
    for (const [what, id] of [
      ['uid', merged.uid],
      ['gid', merged.gid],
    ] as const) {
      if (id < 0 || id > maxId) throw invalidArchive(`${what} ${id} out of range`, name);
    }
    const e: TarEntry = {
      name,
      type: et,
      mode: h.mode,
      uid: merged.uid,
      gid: merged.gid,
      size,
      mtime: merged.mtime,
      linkname,
      devmajor: h.devmajor,
      devminor: h.devminor,
      xattrs: merged.xattrs,
    };
    this.sink.entry(e);
    this.startBody('body', size);
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
          this.pax = parsePax(buf);
          break;
        case 'GlobalExtendedHeader':
          // Go returns it as an entry (its records checked, nothing merged) and forgets what
          // was pending; containerd then ignores it
          parsePax(buf);
          this.pax = new Map();
          this.longName = '';
          this.longLink = '';
          break;
        case 'NextFileHasLongLinkpath':
          this.longLink = bytes(cString(buf));
          break;
        case 'NextFileHasLongPath':
          this.longName = bytes(cString(buf));
      }
    } else {
      this.sink.end();
    }
    this.state = 'header';
  }
}

/** A name for error messages, whatever its bytes. */
const entryLabel = (s: string) => Buffer.from(s, 'latin1').toString('utf8').slice(0, 200);

/** Go's mergePAX: each non-empty record overrides its header field; a bad number is an error. Xattrs as containerd reads them. */
function mergePax(h: RawHeader, pax: Map<string, Buffer>) {
  const out = { name: h.name, linkname: h.linkname, size: h.size, uid: h.uid, gid: h.gid, mtime: h.mtime, xattrs: new Map<string, Buffer>() };
  for (const [key, value] of pax) {
    if (key.startsWith('SCHILY.xattr.')) {
      // containerd sets every one from the PAX records, an empty value too
      const name = Buffer.from(key.slice('SCHILY.xattr.'.length), 'latin1');
      if (!isUtf8(name)) throw invalidArchive('xattr name is not valid UTF-8', entryLabel(out.name));
      out.xattrs.set(name.toString('utf8'), value);
      continue;
    }
    if (value.length === 0) continue; // "keep the original USTAR value"
    const v = bytes(value);
    const number = (n: number | undefined) => {
      if (n === undefined) throw invalidArchive(`invalid PAX ${key} ${JSON.stringify(v.slice(0, 40))}`, entryLabel(out.name));
      return n;
    };
    switch (key) {
      case 'path':
        out.name = v;
        break;
      case 'linkpath':
        out.linkname = v;
        break;
      case 'uid':
        out.uid = number(parseDecimal(v));
        break;
      case 'gid':
        out.gid = number(parseDecimal(v));
        break;
      case 'size':
        out.size = number(parseDecimal(v));
        break;
      case 'mtime':
        out.mtime = number(parsePaxTime(v));
        break;
      case 'atime':
      case 'ctime':
        number(parsePaxTime(v));
        break;
    }
  }
  return out;
}

/** Whether Go's reader would read the entry as a GNU sparse file (PAX formats 0.0, 0.1, 1.0). */
function isSparse(pax: Map<string, Buffer>): boolean {
  const major = pax.get('GNU.sparse.major')?.toString('latin1') ?? '';
  const minor = pax.get('GNU.sparse.minor')?.toString('latin1') ?? '';
  if ((major === '0' && (minor === '0' || minor === '1')) || (major === '1' && minor === '0')) return true;
  if (major !== '' || minor !== '') return false; // an unknown version: Go reads a plain file
  return (pax.get('GNU.sparse.map')?.length ?? 0) > 0;
}

/**
 * PAX records: "<len> <key>=<value>\n", binary-safe (values may hold NUL and newlines), checked
 * as Go's parsePAXRecord checks them. Keys are byte strings. The sparse format 0.0's repeated
 * offset/numbytes records are gathered into GNU.sparse.map, as Go does.
 */
export function parsePax(buf: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const sparseMap: string[] = [];
  let off = 0;
  while (off < buf.length) {
    const sp = buf.indexOf(0x20, off);
    if (sp < 0) throw invalidArchive('malformed PAX record');
    const len = parseDecimal(bytes(buf.subarray(off, sp)));
    if (len === undefined || len < 5 || len > buf.length - off || len <= sp - off + 1) throw invalidArchive('malformed PAX record length');
    if (buf[off + len - 1] !== 0x0a) throw invalidArchive('malformed PAX record');
    const rec = buf.subarray(sp + 1, off + len - 1);
    const eq = rec.indexOf(0x3d);
    if (eq <= 0) throw invalidArchive('malformed PAX record (no key)');
    const key = bytes(rec.subarray(0, eq));
    const value = Buffer.from(rec.subarray(eq + 1));
    if (key.includes('\0')) throw invalidArchive('PAX record key contains NUL');
    if (['path', 'linkpath', 'uname', 'gname'].includes(key) && value.includes(0)) throw invalidArchive(`PAX ${key} contains NUL`);
    if (key === 'GNU.sparse.offset' || key === 'GNU.sparse.numbytes') {
      const expected = sparseMap.length % 2 === 0 ? 'GNU.sparse.offset' : 'GNU.sparse.numbytes';
      if (key !== expected || value.includes(0x2c)) throw invalidArchive('malformed PAX sparse map');
      sparseMap.push(bytes(value));
    } else out.set(key, value);
    off += len;
  }
  if (sparseMap.length > 0) out.set('GNU.sparse.map', Buffer.from(sparseMap.join(','), 'latin1'));
  return out;
}
