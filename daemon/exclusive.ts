import { closeSync, constants, fstatSync, ftruncateSync, openSync, readFileSync, realpathSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { failedPrecondition } from '../core/errors.ts';
import { flock, LOCK_EX, LOCK_NB } from '../native/index.ts';

/** A path a daemon must have to itself, and the file whose lock stands for it. */
export interface Claim {
  /** what the path is, in the refusal message: 'root', 'state', 'socket' */
  what: string;
  path: string;
  lockFile: string;
}

/** The lock file in a directory berthd owns (root, state). */
export const dirLockName = 'berthd.lock';

/**
 * What berthd locks before it reads or removes anything: its root, its state dir and its socket.
 * The socket's lock sits next to it (`<socket>.lock`), so two daemons with different roots and
 * states are still kept off one socket path. Directories must exist; paths are resolved through
 * symlinks so that two spellings of one directory take the same lock.
 */
export function daemonClaims(config: { root: string; state: string; address: string }): Claim[] {
  const socketDir = realpathSync(dirname(config.address));
  return [
    { what: 'root', path: config.root, lockFile: join(realpathSync(config.root), dirLockName) },
    { what: 'state', path: config.state, lockFile: join(realpathSync(config.state), dirLockName) },
    { what: 'socket', path: config.address, lockFile: join(socketDir, `${basename(config.address)}.lock`) },
  ];
}

/**
 * Takes an exclusive flock(2) on each claim's lock file, or takes none and throws a
 * FailedPrecondition naming the path and the holder's pid. The kernel drops the locks when the
 * process ends however it ends (SIGKILL included), so a restart after a crash is never refused.
 * The descriptors are close-on-exec: shims and other children never inherit them.
 */
export function lockExclusive(claims: Claim[]): { release(): void } {
  const held = new Map<string, number>();
  const release = () => {
    for (const fd of held.values()) closeSync(fd);
    held.clear();
  };
  try {
    for (const claim of claims) {
      const fd = openSync(claim.lockFile, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
      const st = fstatSync(fd);
      const key = `${st.dev}:${st.ino}`;
      // the same directory given twice (root = state): this daemon already holds it
      if (held.has(key)) {
        closeSync(fd);
        continue;
      }
      if (!flock(fd, LOCK_EX | LOCK_NB)) {
        closeSync(fd);
        const pid = /^\d+/.exec(readFileSync(claim.lockFile, 'utf8'))?.[0];
        throw failedPrecondition(`another berthd${pid ? ` (pid ${pid})` : ''} is already running on ${claim.what} ${claim.path} (it holds ${claim.lockFile})`);
      }
      held.set(key, fd);
      ftruncateSync(fd, 0);
      writeSync(fd, `${process.pid}\n`, 0);
    }
  } catch (err) {
    release();
    throw err;
  }
  return { release };
}
