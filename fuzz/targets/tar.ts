import { maxNameLength, type TarEntry, TarReader } from '../../core/archive/tar.ts';
import { encodeHeader, endOfArchive, padding } from '../../core/archive/tar-writer.ts';
import { BerthError } from '../../core/errors.ts';
import { check, type FuzzTarget } from './index.ts';

/** Reads an archive fed in chunks of `chunk` bytes; the entries and how many body bytes each got. */
function read(archive: Buffer, chunk: number): { entries: Array<{ entry: TarEntry; bytes: number }>; error?: unknown } {
  const entries: Array<{ entry: TarEntry; bytes: number; ended: boolean }> = [];
  const reader = new TarReader({
    entry: (entry) => {
      check(entries.length === 0 || entries.at(-1)!.ended, 'an entry starts after the one before ended');
      entries.push({ entry, bytes: 0, ended: false });
    },
    data: (b) => {
      check(entries.length > 0 && !entries.at(-1)!.ended, 'data belongs to an open entry');
      entries.at(-1)!.bytes += b.length;
    },
    end: () => {
      const last = entries.at(-1)!;
      check(!last.ended && last.bytes === last.entry.size, 'an entry ends after exactly its size', { size: last.entry.size, bytes: last.bytes });
      last.ended = true;
    },
  });
  try {
    for (let at = 0; at < archive.length; at += chunk) reader.feed(archive.subarray(at, at + chunk));
    reader.close();
  } catch (error) {
    if (!(error instanceof BerthError)) throw error;
    return { entries, error };
  }
  return { entries };
}

const types = new Set(['file', 'link', 'symlink', 'char', 'block', 'dir', 'fifo']);
const uint = (n: number) => Number.isSafeInteger(n) && n >= 0;

/**
 * The layer tar reader, fed in chunks of the size the first two bytes give: refused with
 * BerthError, or entries with sane names, types, modes, ids and sizes, each given exactly its
 * size in bytes; and each entry written again with encodeHeader reads back the same.
 */
export const target: FuzzTarget = {
  name: 'tar',
  alsoCover: ['tar'],
  maxLength: 16384,
  dictionary: [
    'ustar\x0000',
    'ustar  \x00',
    '0000644\x00',
    '00000000000\x00',
    '\x80\x00\x00\x00\x00\x00\x00\x00\x00\x00\x10\x00',
    ' path=',
    ' linkpath=',
    ' size=',
    ' mtime=',
    ' uid=',
    ' SCHILY.xattr.security.capability=',
    '././@LongLink',
    '.wh..wh..opq',
    '.wh.',
    '../',
    '/',
  ],
  fuzz(data) {
    if (data.length < 2) return;
    const chunk = 1 + (data.readUInt16BE(0) % 2048);
    for (const { entry: e } of read(data.subarray(2), chunk).entries) {
      check(
        e.name.length <= maxNameLength && e.linkname.length <= maxNameLength && !e.name.includes('\0') && !e.linkname.includes('\0'),
        'names without NUL, within the limit',
        e.name.slice(0, 100),
      );
      check(types.has(e.type), 'a known type', e.type);
      check(uint(e.size) && (e.type === 'file' || e.size === 0), 'a size, and only files have a body', { type: e.type, size: e.size });
      check(uint(e.mode) && e.mode <= 0o7777, 'permission bits', e.mode);
      check(uint(e.uid) && uint(e.gid) && uint(e.devmajor) && uint(e.devminor), 'ids and device numbers', e);
      check(Number.isFinite(e.mtime), 'a time', e.mtime);
      if (e.size > 1 << 20) continue; // written again below with its body: keep that small
      const again = read(Buffer.concat([encodeHeader(e), Buffer.alloc(e.size + padding(e.size)), endOfArchive()]), 512);
      const a = again.entries[0]?.entry;
      check(again.error === undefined && again.entries.length === 1 && a !== undefined, 'a written entry reads back', String(again.error));
      for (const k of ['name', 'type', 'mode', 'uid', 'gid', 'size', 'linkname', 'devmajor', 'devminor'] as const)
        check(a[k] === e[k], `${k} reads back`, { wrote: e[k], read: a[k] });
      check(Math.abs(a.mtime - e.mtime) < 1e-6, 'mtime reads back', { wrote: e.mtime, read: a.mtime });
      check(a.xattrs.size === e.xattrs.size && [...e.xattrs].every(([k, v]) => a.xattrs.get(k)?.equals(v)), 'xattrs read back');
    }
  },
};
