// Typed wrapper over berth's native addon (native/berth.c, built by native/build.ts into
// dist/native/berth.node): the Linux system calls Node.js does not offer.
//
// Every function is synchronous and runs on the calling thread. Failed system calls throw
// Errors shaped like Node's fs errors (`code` 'ENOENT', `errno` -2, `syscall`, `path`, and
// `dest` for mount); wrong argument types throw TypeError, non-integer or out-of-range
// numbers RangeError. Paths and xattr names may be strings or Buffers (raw bytes).
//
// The addon is loaded on first use, so importing this module costs nothing for a process
// that never calls into it.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A path or name: a UTF-8 string, or raw bytes (without NUL). */
export type PathLike = string | Uint8Array;

/** The namespaces a file can hold for a pod, named as /proc/PID/ns/ names them. */
export type NamespaceType = 'net' | 'ipc' | 'uts';

/** How a child process ended, as reported by {@link waitpid} and {@link waitidPeek}. */
export interface ChildExit {
  pid: number;
  /** The exit status (0–255) when the process exited, otherwise null. */
  exitCode: number | null;
  /** The signal number when a signal killed the process (9 for SIGKILL), otherwise null. */
  signal: number | null;
}

interface Addon {
  mknod(path: PathLike, mode: number, major: number, minor: number): void;
  lsetxattr(path: PathLike, name: PathLike, value: Uint8Array, flags?: number): void;
  lgetxattr(path: PathLike, name: PathLike): Buffer | null;
  llistxattr(path: PathLike): string[];
  lremovexattr(path: PathLike, name: PathLike): void;
  chroot(path: PathLike): void;
  fchdir(fd: number): void;
  flock(fd: number, operation: number): boolean;
  mount(source: PathLike | null, target: PathLike, fstype: string | null, flags: number, data: string | null): void;
  umount2(target: PathLike, flags?: number): void;
  unshare(flags: number): void;
  createNamespace(path: PathLike, type: NamespaceType, hostname?: string): void;
  writeInNamespace(path: PathLike, type: NamespaceType, file: string, value: string): void;
  connectInNetns(path: PathLike, port: number): Promise<number>;
  setChildSubreaper(): void;
  pipe(): [number, number];
  spawn(path: string, argv: string[], fds: number[]): number;
  waitpid(pid: number, nohang?: boolean): ChildExit | null;
  waitidPeek(): ChildExit | null;
  recvFd(socketFd: number): number | null;
  setWinsize(fd: number, cols: number, rows: number): void;
  getWinsize(fd: number): { cols: number; rows: number };
  exitNow(code: number): never;
  /** The same constants as below, taken from the C headers (the tests compare them). */
  constants: Readonly<Record<string, number>>;
}

// File type bits for mknod's mode (as in fs.constants).
export const S_IFMT = 0o170000;
export const S_IFREG = 0o100000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
export const S_IFIFO = 0o010000;
export const S_IFDIR = 0o040000;
export const S_IFLNK = 0o120000;
export const S_IFSOCK = 0o140000;

// mount(2) flags.
export const MS_RDONLY = 0x1;
export const MS_NOSUID = 0x2;
export const MS_NODEV = 0x4;
export const MS_NOEXEC = 0x8;
export const MS_REMOUNT = 0x20;
export const MS_NOATIME = 0x400;
export const MS_NODIRATIME = 0x800;
export const MS_BIND = 0x1000;
export const MS_MOVE = 0x2000;
export const MS_REC = 0x4000;
export const MS_UNBINDABLE = 0x20000;
export const MS_PRIVATE = 0x40000;
export const MS_SLAVE = 0x80000;
export const MS_SHARED = 0x100000;
export const MS_RELATIME = 0x200000;
export const MS_STRICTATIME = 0x1000000;

// umount2(2) flags.
export const MNT_FORCE = 0x1;
export const MNT_DETACH = 0x2;
export const MNT_EXPIRE = 0x4;
export const UMOUNT_NOFOLLOW = 0x8;

// lsetxattr(2) flags.
export const XATTR_CREATE = 0x1;
export const XATTR_REPLACE = 0x2;

// unshare(2) flags.
export const CLONE_NEWNS = 0x20000;

// flock(2) operations.
export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;

let addon: Addon | undefined;

/** Finds the repository root (the nearest directory upward holding package.json). */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`berth native: no package.json above ${import.meta.url}`);
    dir = up;
  }
}

/** Loads dist/native/berth.node once; works from native/index.ts and dist/native/index.js. */
function load(): Addon {
  if (addon) return addon;
  const file = join(repoRoot(), 'dist', 'native', 'berth.node');
  if (!existsSync(file)) {
    throw new Error(`berth native addon not built (${file} is missing): run \`npm run build\``);
  }
  addon = createRequire(import.meta.url)(file) as Addon;
  return addon;
}

/** The raw addon, for tests and for the constants as the C headers define them. */
export function native(): Addon {
  return load();
}

/**
 * mknod(2): creates a device node, FIFO or empty regular file at `path`, without following
 * a symlink in its last component (it fails with EEXIST instead).
 * @param mode file type bits (S_IFCHR, S_IFBLK, S_IFIFO, S_IFREG) | permission bits; the
 *   process umask applies, so chmod afterwards for an exact mode.
 * @param major device major number (0 for FIFOs and regular files)
 * @param minor device minor number
 */
export function mknod(path: PathLike, mode: number, major = 0, minor = 0): void {
  load().mknod(path, mode, major, minor);
}

/**
 * lsetxattr(2): sets extended attribute `name` on `path` itself, never on a symlink's
 * target. On ext4 and most filesystems `user.*` is refused on symlinks (EPERM);
 * `trusted.*` and `security.*` need CAP_SYS_ADMIN / CAP_SETFCAP.
 * @param value the bytes to store (a string is stored as its UTF-8 bytes)
 * @param flags 0, XATTR_CREATE (fail with EEXIST if set) or XATTR_REPLACE (ENODATA if not)
 */
export function lsetxattr(path: PathLike, name: PathLike, value: Uint8Array | string, flags = 0): void {
  load().lsetxattr(path, name, typeof value === 'string' ? Buffer.from(value) : value, flags);
}

/**
 * lgetxattr(2): the value of extended attribute `name` of `path` itself (not following a
 * symlink), or null when it has no such attribute (ENODATA). An empty value is an empty
 * Buffer, not null.
 */
export function lgetxattr(path: PathLike, name: PathLike): Buffer | null {
  return load().lgetxattr(path, name);
}

/** llistxattr(2): the names of the extended attributes of `path` itself (the caller may see only some namespaces). */
export function llistxattr(path: PathLike): string[] {
  return load().llistxattr(path);
}

/** lremovexattr(2): removes extended attribute `name` from `path` itself; ENODATA if absent. */
export function lremovexattr(path: PathLike, name: PathLike): void {
  load().lremovexattr(path, name);
}

/**
 * chroot(2): changes the process's root directory. The caller must then
 * `process.chdir('/')`, or its working directory stays outside the new root. Modules not
 * yet loaded cannot be loaded afterwards (their paths are gone).
 *
 * Node's threads share one root and cwd, unless this thread called {@link unshare} with
 * CLONE_NEWNS first: then only this thread (and threads and processes it starts later)
 * sees the new root.
 */
export function chroot(path: PathLike): void {
  load().chroot(path);
}

/**
 * fchdir(2): the working directory becomes the directory open as fd. With a descriptor of the
 * real root opened before a chroot, `fchdir(fd); chroot('.')` returns to the real root.
 */
export function fchdir(fd: number): void {
  load().fchdir(fd);
}

/**
 * flock(2) on an open descriptor: true once done; false when `operation` has LOCK_NB and another
 * open file description of the file holds a conflicting lock. The lock belongs to the open file
 * description, so the kernel drops it when the last descriptor of it closes, which includes the
 * process dying by any signal.
 */
export function flock(fd: number, operation: number): boolean {
  return load().flock(fd, operation);
}

/**
 * mount(2).
 * @param source the device, directory (MS_BIND) or a name such as 'tmpfs'/'overlay';
 *   null when ignored (MS_REMOUNT, propagation changes)
 * @param fstype 'tmpfs', 'overlay', ...; null when ignored
 * @param flags MS_* flags, e.g. MS_BIND | MS_REC, or MS_REC | MS_PRIVATE with a null source
 * @param data filesystem options ('lowerdir=...,upperdir=...,workdir=...'), or null
 * @throws an Error with `path` = source and `dest` = target, like Node's rename
 */
export function mount(source: PathLike | null, target: PathLike, fstype: string | null, flags: number, data: string | null = null): void {
  load().mount(source, target, fstype, flags, data);
}

/** umount2(2): unmounts `target`; `flags` is 0 or MNT_DETACH / MNT_FORCE / UMOUNT_NOFOLLOW. */
export function umount2(target: PathLike, flags = 0): void {
  load().umount2(target, flags);
}

/**
 * unshare(2), e.g. `unshare(CLONE_NEWNS)` for a private mount namespace (follow it with
 * `mount(null, '/', null, MS_REC | MS_PRIVATE)` so nothing propagates back).
 *
 * Namespaces belong to threads, and Node has several: only the calling thread enters the
 * new namespace, with threads and child processes it creates later. Node's own threads that
 * already run (V8's, and libuv's thread pool once any async fs call has been made) stay in
 * the old one, so after this use synchronous fs calls, or spawned processes, only. Meant for
 * a child process started for the purpose.
 */
export function unshare(flags: number): void {
  load().unshare(flags);
}

/**
 * prctl(PR_SET_CHILD_SUBREAPER, 1): orphaned descendants are re-parented to this process
 * (instead of pid 1), which must then reap them with {@link waitpid}.
 */
export function setChildSubreaper(): void {
  load().setChildSubreaper();
}

/** pipe2(O_CLOEXEC): [read end, write end]; Node has no anonymous pipe of its own. */
export function pipe(): [number, number] {
  return load().pipe();
}

/**
 * posix_spawn(3) of `path` with `argv` (argv[0] included) and this process's environment: the
 * child's descriptor i is fds[i] (-1: /dev/null) and it has no other; default signal mask and
 * dispositions. Unlike child_process.spawn it does not fork the daemon (glibc uses
 * clone(CLONE_VM|CLONE_VFORK)), so a large process starts a small one in well under a
 * millisecond of its thread. Each fds[i] must be a descriptor numbered fds.length or above. The
 * caller reaps the child with {@link waitpid}: libuv does not know it.
 * @throws ENOENT, EACCES... when the program cannot be executed
 */
export function spawnProcess(path: string, argv: string[], fds: number[]): number {
  return load().spawn(path, argv, fds);
}

/**
 * waitpid(2) for one pid: reaps it and returns how it ended, or null (with `nohang`) while it
 * still runs. Pass the pid of a process libuv did not spawn (a re-parented descendant), or
 * libuv loses its child's exit. pid -1 (any child) is honoured only when passed explicitly;
 * it steals libuv's children. `nohang = false` blocks the whole event loop.
 * @throws ECHILD when `pid` is not (or no longer) a child of this process
 */
export function waitpid(pid: number, nohang = true): ChildExit | null {
  return load().waitpid(pid, nohang);
}

/**
 * waitid(P_ALL, 0, WEXITED | WNOHANG | WNOWAIT): the first child that has exited, left as a
 * zombie (not reaped), or null when none has exited or there are no children. The same
 * zombie is returned until someone reaps it, so reap (with {@link waitpid}) the pids you own
 * and leave libuv's to libuv.
 */
export function waitidPeek(): ChildExit | null {
  return load().waitidPeek();
}

/**
 * One non-blocking recvmsg(2) on a connected unix socket: the descriptor the peer passed with
 * SCM_RIGHTS (opened close-on-exec; the caller owns and must close it), or null when no
 * message is queued yet (EAGAIN). The message's data bytes are discarded, and so are any
 * further descriptors in it (closed).
 * @throws ECONNRESET when the peer closed the connection without sending a descriptor,
 *   ENOMSG when a message arrived without one
 */
export function recvFd(socketFd: number): number | null {
  return load().recvFd(socketFd);
}

/** ioctl(TIOCSWINSZ): sets a terminal's window size (the foreground process group gets SIGWINCH). */
export function setWinsize(fd: number, cols: number, rows: number): void {
  load().setWinsize(fd, cols, rows);
}

/** ioctl(TIOCGWINSZ): a terminal's window size. */
export function getWinsize(fd: number): { cols: number; rows: number } {
  return load().getWinsize(fd);
}

/**
 * _exit(2): ends the process at once with `code` (0-255). Skips the 'exit' event and Node's
 * teardown (joining V8's and libuv's threads: 3-6 ms of a short CLI's life); anything written
 * to a stream and not yet flushed is lost, so flush first.
 */
export function exitNow(code: number): never {
  return load().exitNow(code);
}
