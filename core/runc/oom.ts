// OOM-kill detection for a container's memory cgroup, from the kernel's kill counter:
// cgroup v1 memory.oom_control "oom_kill N" (kernel 4.13 and later), cgroup v2 memory.events
// "oom_kill N". v1 files never signal inotify, so v1 is polled on a timer; v2's memory.events
// does, so v2 is watched (with the same timer as a fallback). The shim also calls check()
// when the container's init exits, so a kill that ended the container is never missed.
import { type FSWatcher, readFileSync, watch } from 'node:fs';
import { join } from 'node:path';
import { cgroupDir, cgroupMount, isUnifiedHost } from './metrics.ts';

export interface OomWatcher {
  /** Reads the counter now; true (after calling onOom) when it grew since the last read. */
  check(): boolean;
  /** Stops watching; onOom is not called afterwards. */
  close(): void;
}

export interface OomOptions {
  /** Poll period, default 1000 ms. */
  intervalMs?: number;
  /** Where the cgroup hierarchies are mounted (tests). */
  mount?: string;
}

/** The oom_kill counter of `file`, or undefined when it cannot be read (cgroup gone). */
function readKills(file: string): bigint | undefined {
  try {
    const m = /^oom_kill (\d+)$/m.exec(readFileSync(file, 'utf8'));
    return m ? BigInt(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Watches the memory cgroup of the container whose spec set linux.cgroupsPath =
 * `cgroupsPath`, and calls onOom when the kernel's OOM killer has killed a process in it:
 * once for each observation of a grown counter (several kills between two reads make one
 * call, as containerd publishes one TaskOOM event per notification). Kills before the call
 * to watchOom do not count. The timer does not keep the process alive.
 */
export function watchOom(cgroupsPath: string, onOom: () => void, opts: OomOptions = {}): OomWatcher {
  const mount = opts.mount ?? cgroupMount;
  const rel = cgroupDir(cgroupsPath);
  const unified = isUnifiedHost(mount);
  const file = unified ? join(mount, rel, 'memory.events') : join(mount, 'memory', rel, 'memory.oom_control');
  let last = readKills(file) ?? 0n;
  let closed = false;

  const check = (): boolean => {
    if (closed) return false;
    const now = readKills(file);
    if (now === undefined || now <= last) return false;
    last = now;
    onOom();
    return true;
  };

  const timer = setInterval(check, opts.intervalMs ?? 1000);
  timer.unref();
  let watcher: FSWatcher | undefined;
  if (unified) {
    try {
      watcher = watch(file, { persistent: false }, () => check());
      watcher.on('error', () => watcher?.close());
    } catch {
      // the cgroup is gone, or inotify is unavailable: the timer remains
    }
  }

  return {
    check,
    close() {
      closed = true;
      clearInterval(timer);
      watcher?.close();
    },
  };
}
