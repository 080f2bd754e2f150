// What berthd reads of a process it did not start (a shim, a monitor, a container's init) from
// /proc. A process that has exited but waits to be reaped (a zombie: its parent, often the
// machine's pid 1, has not collected it yet) counts as gone.
import { readFileSync } from 'node:fs';

/** The fields of /proc/PID/stat after the command name (which may hold spaces and parentheses), or undefined once it is gone or a zombie. */
function statFields(pid: number): string[] | undefined {
  if (!(pid > 0)) return undefined;
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[0] === 'Z' ? undefined : fields;
}

/**
 * When a running process started (clock ticks since boot, field 22 of /proc/PID/stat), or
 * undefined once it is gone: with its pid, it names one process even after the pid is reused.
 */
export function processStart(pid: number): string | undefined {
  return statFields(pid)?.[19];
}

/** Whether a process with this pid runs (a reused pid reads as running). */
export function isRunning(pid: number): boolean {
  return statFields(pid) !== undefined;
}
