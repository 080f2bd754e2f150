import type { EntryType, TarEntry } from './tar.ts';

/**
 * A deterministic tar header writer: a plain ustar header when the entry fits one, else a PAX
 * header ('x') before it with the fields that do not fit and the entry's xattrs.
 */

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
  buf.write(`${s.padStart(width - 1, '0')}\0`, off, width, 'latin1');
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
  fits = octal(b, 136, 12, e.mtime) && fits; // a negative time goes to PAX
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
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
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
