import { gzipSync, zstdCompressSync } from 'node:zlib';

/**
 * Byte-exact tar construction for tests, independent of berth's own tar writer: every field is
 * written as given, so hostile names (`../x`, `/etc/x`, NUL in PAX) are possible.
 */
export interface RawEntry {
  name: string;
  /** tar typeflag: '0' file, '1' hardlink, '2' symlink, '3' char, '4' block, '5' dir, '6' fifo */
  type?: string;
  data?: string | Buffer;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** PAX records for this entry (written as an 'x' header before it) */
  pax?: Record<string, string | Buffer>;
  /** override the size field (e.g. to lie about it) */
  size?: number;
  /** bytes written over the header at these offsets, after the fields above and before the checksum */
  raw?: Array<[offset: number, bytes: string | Buffer]>;
  /** 'signed': the checksum old Sun tars wrote (bytes as int8); a number: written as is */
  checksum?: 'signed' | number;
}

const enc = (s: string) => Buffer.from(s, 'utf8');

function octal(b: Buffer, off: number, width: number, v: number) {
  b.write(`${v.toString(8).padStart(width - 1, '0')}\0`, off, width, 'latin1');
}

export function header(e: RawEntry, bodyLen: number): Buffer {
  const b = Buffer.alloc(512);
  enc(e.name).copy(b, 0, 0, 100);
  octal(b, 100, 8, e.mode ?? (e.type === '5' ? 0o755 : 0o644));
  octal(b, 108, 8, e.uid ?? 0);
  octal(b, 116, 8, e.gid ?? 0);
  octal(b, 124, 12, e.size ?? bodyLen);
  octal(b, 136, 12, e.mtime ?? 1_600_000_000);
  b.write(e.type ?? '0', 156, 1, 'latin1');
  enc(e.linkname ?? '').copy(b, 157, 0, 100);
  b.write('ustar\u000000', 257, 8, 'latin1');
  octal(b, 329, 8, e.devmajor ?? 0);
  octal(b, 337, 8, e.devminor ?? 0);
  for (const [off, v] of e.raw ?? []) (typeof v === 'string' ? Buffer.from(v, 'latin1') : v).copy(b, off);
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const x of b) sum += e.checksum === 'signed' && x >= 0x80 ? x - 0x100 : x;
  if (typeof e.checksum === 'number') sum = e.checksum;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  return b;
}

/** A GNU base-256 number field of width bytes (two's complement, top bit set). */
export function base256(value: bigint, width: number): Buffer {
  const b = Buffer.alloc(width);
  let x = BigInt.asUintN(width * 8, value);
  for (let i = width - 1; i >= 0; i--, x >>= 8n) b[i] = Number(x & 0xffn);
  b[0]! |= 0x80;
  return b;
}

const pad = (n: number) => Buffer.alloc((512 - (n % 512)) % 512);

export function paxBody(recs: Record<string, string | Buffer>): Buffer {
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(recs)) {
    const body = Buffer.concat([enc(` ${k}=`), typeof v === 'string' ? enc(v) : v, enc('\n')]);
    let len = body.length + 1;
    while (String(len).length + body.length !== len) len = String(len).length + body.length;
    parts.push(enc(String(len)), body);
  }
  return Buffer.concat(parts);
}

/** A tar archive of the entries, with the end-of-archive marker unless `end` is false. */
export function tar(entries: RawEntry[], end = true): Buffer {
  const out: Buffer[] = [];
  for (const e of entries) {
    if (e.pax) {
      const body = paxBody(e.pax);
      out.push(header({ name: 'PaxHeader', type: 'x' }, body.length), body, pad(body.length));
    }
    const data = e.data === undefined ? Buffer.alloc(0) : typeof e.data === 'string' ? enc(e.data) : e.data;
    out.push(header(e, data.length), data, pad(data.length));
  }
  if (end) out.push(Buffer.alloc(1024));
  return Buffer.concat(out);
}

export const gz = (b: Buffer) => gzipSync(b);
export const zst = (b: Buffer) => zstdCompressSync(b);

// Short forms, like reliability.md's mklayer: f:name=data, d:name, s:name->target, h:name->target
export const f = (name: string, data: string | Buffer = '', extra: Partial<RawEntry> = {}): RawEntry => ({ name, data, type: '0', ...extra });
export const d = (name: string, extra: Partial<RawEntry> = {}): RawEntry => ({ name, type: '5', ...extra });
export const s = (name: string, linkname: string, extra: Partial<RawEntry> = {}): RawEntry => ({ name, linkname, type: '2', mode: 0o777, ...extra });
export const h = (name: string, linkname: string, extra: Partial<RawEntry> = {}): RawEntry => ({ name, linkname, type: '1', ...extra });
