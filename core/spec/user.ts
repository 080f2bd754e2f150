import { closeSync, constants, fstatSync, lstatSync, openSync, readlinkSync, readSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import type { User } from './types.ts';

/**
 * The process user as containerd 1.6's WithUser / WithUserID / WithUsername / WithAdditionalGIDs
 * work it out from an image's /etc/passwd and /etc/group, read from a root file system the
 * caller has mounted read-only. The image is not trusted: files are resolved inside the root
 * only, must be small regular files, and ids must be decimal numbers a Linux uid/gid can hold
 * (Go's parser turns garbage into 0, i.e. root; berth refuses it).
 */

/**
 * The largest uid/gid berth puts in a spec: 2^31-1, as containerd's WithUser accepts (runc
 * needs ids that fit an int32; 2^32-1 is (uid_t)-1, "no id", to the kernel).
 */
export const maxId = 2 ** 31 - 1;
/** /etc/passwd and /etc/group larger than this are refused. */
export const maxFileSize = 1 << 20;

export class UserError extends Error {
  override name = 'UserError';
}

const symlinkHops = 40;

/**
 * The path of `path` inside `root` with every symlink resolved as if root were `/` (what
 * containerd's fs.RootPath does): `..` and absolute link targets never leave root.
 * A missing component ends the walk; the result then names something that does not exist.
 */
export function resolveInRoot(root: string, path: string): string {
  const pending = path.split('/').filter((p) => p !== '' && p !== '.');
  const done: string[] = [];
  let hops = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '..') {
      done.pop();
      continue;
    }
    const here = join(root, ...done, part);
    let st: Stats;
    try {
      st = lstatSync(here);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return join(root, ...done, part, ...pending);
      throw err;
    }
    if (st.isSymbolicLink()) {
      if (++hops > symlinkHops) throw new UserError(`too many levels of symbolic links resolving ${path} in the image`);
      const target = readlinkSync(here);
      if (target.startsWith('/')) done.length = 0;
      pending.unshift(...target.split('/').filter((p) => p !== '' && p !== '.'));
      continue;
    }
    done.push(part);
  }
  return join(root, ...done);
}

/**
 * Reads a file of the image (e.g. /etc/passwd), or undefined if it does not exist. Refuses
 * anything but a regular file (a FIFO would block, a device could be anything) and files over
 * maxFileSize.
 */
export function readRootFile(root: string, path: string): Buffer | undefined {
  const real = resolveInRoot(root, path);
  let fd: number;
  try {
    // O_NOFOLLOW: the last component was resolved above; a symlink now is a race, not a file
    fd = openSync(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    if (code === 'ELOOP') throw new UserError(`${path} in the image is a symbolic link that changed while it was read`);
    throw err;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new UserError(`${path} in the image is not a regular file`);
    if (st.size > maxFileSize) throw new UserError(`${path} in the image is too large (${st.size} bytes, at most ${maxFileSize})`);
    const buf = Buffer.alloc(st.size);
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, got);
      if (n === 0) break;
      got += n;
    }
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

/** A decimal uid/gid in 0..maxId, or undefined for anything else (garbage, negative, too big). */
export function parseId(text: string): number | undefined {
  if (!/^[0-9]{1,10}$/.test(text)) return undefined;
  const n = Number(text);
  return n <= maxId ? n : undefined;
}

export interface PasswdEntry {
  name: string;
  uid: number | undefined;
  gid: number | undefined;
  uidText: string;
  gidText: string;
  line: number;
}

export interface GroupEntry {
  name: string;
  gid: number | undefined;
  gidText: string;
  members: string[];
  line: number;
}

const lines = (text: string) => text.split('\n').map((l, i) => ({ text: l.trim(), line: i + 1 }));

/** /etc/passwd lines as runc's user.ParsePasswd splits them (no comment syntax). */
export function parsePasswd(text: string): PasswdEntry[] {
  return lines(text)
    .filter((l) => l.text !== '')
    .map(({ text: l, line }) => {
      const f = l.split(':');
      return { name: f[0]!, uidText: f[2] ?? '', gidText: f[3] ?? '', uid: parseId(f[2] ?? ''), gid: parseId(f[3] ?? ''), line };
    });
}

/** /etc/group lines as runc's user.ParseGroup splits them ('#' starts a comment line). */
export function parseGroup(text: string): GroupEntry[] {
  return lines(text)
    .filter((l) => l.text !== '' && !l.text.startsWith('#'))
    .map(({ text: l, line }) => {
      const f = l.split(':');
      const list = f[3] ?? '';
      return { name: f[0]!, gidText: f[2] ?? '', gid: parseId(f[2] ?? ''), members: list === '' ? [] : list.split(','), line };
    });
}

/** Read access to the image's account files; a missing root reads as "no such files". */
export class Accounts {
  private passwdCache: PasswdEntry[] | null | undefined;
  private groupCache: GroupEntry[] | null | undefined;

  constructor(private readonly root: string | undefined) {}

  /** passwd entries, or null when the image has no /etc/passwd */
  passwd(): PasswdEntry[] | null {
    if (this.passwdCache === undefined) {
      const buf = this.root === undefined ? undefined : readRootFile(this.root, '/etc/passwd');
      this.passwdCache = buf ? parsePasswd(buf.toString('utf8')) : null;
    }
    return this.passwdCache;
  }

  group(): GroupEntry[] | null {
    if (this.groupCache === undefined) {
      const buf = this.root === undefined ? undefined : readRootFile(this.root, '/etc/group');
      this.groupCache = buf ? parseGroup(buf.toString('utf8')) : null;
    }
    return this.groupCache;
  }
}

function checked(e: PasswdEntry): { name: string; uid: number; gid: number } {
  if (e.uid === undefined)
    throw new UserError(`the image's /etc/passwd gives user "${e.name}" an invalid uid "${e.uidText}" (line ${e.line}; uids are 0 to ${maxId})`);
  if (e.gid === undefined)
    throw new UserError(`the image's /etc/passwd gives user "${e.name}" an invalid gid "${e.gidText}" (line ${e.line}; gids are 0 to ${maxId})`);
  return { name: e.name, uid: e.uid, gid: e.gid };
}

function userByName(a: Accounts, name: string) {
  const entries = a.passwd();
  if (entries === null) throw new UserError(`no users found: the image has no /etc/passwd to look up user "${name}" in`);
  const e = entries.find((u) => u.name === name);
  if (!e) throw new UserError(`no users found: no user "${name}" in the image's /etc/passwd`);
  return checked(e);
}

/** The first entry with this uid (lines with an unreadable uid never match), if any. */
function userById(a: Accounts, uid: number) {
  const e = a.passwd()?.find((u) => u.uid === uid);
  return e ? checked(e) : undefined;
}

function gidByName(a: Accounts, name: string): number {
  const entries = a.group();
  if (entries === null) throw new UserError(`no groups found: the image has no /etc/group to look up group "${name}" in`);
  const g = entries.find((e) => e.name === name);
  if (!g) throw new UserError(`no groups found: no group "${name}" in the image's /etc/group`);
  if (g.gid === undefined) throw new UserError(`the image's /etc/group gives group "${name}" an invalid gid "${g.gidText}" (line ${g.line})`);
  return g.gid;
}

/** The groups that list `username` as a member, other than one of its own name, in file order. */
function supplementaryGids(a: Accounts, username: string): number[] {
  const out: number[] = [];
  for (const g of a.group() ?? []) {
    if (g.name === username || !g.members.includes(username)) continue;
    if (g.gid === undefined) throw new UserError(`the image's /etc/group gives group "${g.name}" an invalid gid "${g.gidText}" (line ${g.line})`);
    out.push(g.gid);
  }
  return out;
}

/** A numeric user/group part: a number in range, undefined for a name; too large is an error. */
function numericPart(part: string, what: string): number | undefined {
  if (/^[-+][0-9]+$/.test(part)) throw new UserError(`invalid ${what} "${part}": ${what}s are 0 to ${maxId}`);
  if (!/^[0-9]+$/.test(part)) return undefined;
  const n = parseId(part);
  if (n === undefined) throw new UserError(`invalid ${what} "${part}": ${what}s are 0 to ${maxId}`);
  return n;
}

/**
 * uid and gid for a USER value (user, uid, user:group, uid:gid, uid:group, user:gid), as
 * containerd's WithUser: a uid alone takes its gid from /etc/passwd (0 when it has none).
 */
export function lookupUser(a: Accounts, userstr: string): { uid: number; gid: number } {
  const parts = userstr.split(':');
  if (parts.length === 1) {
    const uid = numericPart(parts[0]!, 'uid');
    if (uid === undefined) {
      if (parts[0] === '') throw new UserError('invalid user "": a name or uid is needed');
      const u = userByName(a, parts[0]!);
      return { uid: u.uid, gid: u.gid };
    }
    const u = userById(a, uid);
    return { uid, gid: u ? u.gid : 0 };
  }
  if (parts.length === 2) {
    const [user, group] = parts as [string, string];
    if (user === '' || group === '') throw new UserError(`invalid user "${userstr}": use user:group with neither part empty`);
    const uidNum = numericPart(user, 'uid');
    const gidNum = numericPart(group, 'gid');
    return { uid: uidNum ?? userByName(a, user).uid, gid: gidNum ?? gidByName(a, group) };
  }
  throw new UserError(`invalid USER value ${userstr}`);
}

/**
 * The spec's process.user for an image USER value (or none): uid/gid, then the supplementary
 * groups of that user from /etc/group, with the primary gid always first in additionalGids
 * (containerd 1.6.18+).
 */
export function resolveUser(a: Accounts, userstr: string | undefined): User {
  let uid = 0;
  let gid = 0;
  let username: string | undefined = 'root';
  if (userstr) {
    ({ uid, gid } = lookupUser(a, userstr));
    username = userById(a, uid)?.name;
  }
  const extra = username === undefined ? [] : supplementaryGids(a, username);
  return { uid, gid, additionalGids: extra.includes(gid) ? extra : [gid, ...extra] };
}
