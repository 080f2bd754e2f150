import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';

/**
 * The system's binary directories. A bare runtime name is looked up here, not in $PATH: whoever
 * controls the daemon's environment must not choose the program that runs containers as root.
 */
export const systemBinDirs: readonly string[] = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** Whether path is a file this process may execute. */
export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first `<dir>/<name>` that is executable, in the order of dirs; undefined if none is. */
export function findExecutable(name: string, dirs: readonly string[]): string | undefined {
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}
