// OOM-kill detection for a container's memory cgroup, from the kernel's kill counter:
// cgroup v1 memory.oom_control "oom_kill N" (kernel 4.13 and later), cgroup v2 memory.events
// "oom_kill N". v1 files never signal inotify, so v1 is polled on a timer; v2's memory.events
// does, so v2 is watched (with the same timer as a fallback). The shim also calls check()
// when the container's init exits, so a kill that ended the container is never missed.
import { closeSync, type FSWatcher, openSync, readSync, watch } from 'node:fs';
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

/** Where every read goes: a daemon polling a hundred cgroups a second makes no garbage doing it. */
const scratch = Buffer.allocUnsafe(4096);
const counterName = Buffer.from('oom_kill ');

/** The oom_kill counter of `file`, or undefined when it cannot be read (cgroup gone). */
function readKills(file: string): number | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const length = readSync(fd, scratch, 0, scratch.length, 0);
    // `oom_kill N` at the start of a line (oom_kill_disable is another line)
    let at = scratch.indexOf(counterName);
    while (at > 0 && at < length && scratch[at - 1] !== 0x0a) at = scratch.indexOf(counterName, at + 1);
    if (at < 0 || at >= length) return undefined;
    let value = 0;
    for (let i = at + counterName.length; i < length && scratch[i]! >= 0x30 && scratch[i]! <= 0x39; i++) value = value * 10 + scratch[i]! - 0x30;
    return value;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** The checks of every watcher, by interval: one timer per interval wakes the daemon, not one per container. */
const polls = new Map<number, { timer: NodeJS.Timeout; checks: Set<() => void> }>();

function poll(intervalMs: number, check: () => void): () => void {
  let group = polls.get(intervalMs);
  if (!group) {
    const checks = new Set<() => void>();
    const timer = setInterval(() => {
      for (const c of checks) c();
    }, intervalMs);
    timer.unref();
    polls.set(intervalMs, (group = { timer, checks }));
  }
  const { checks, timer } = group;
  checks.add(check);
  return () => {
    checks.delete(check);
    if (checks.size === 0 && polls.get(intervalMs)?.timer === timer) {
      clearInterval(timer);
      polls.delete(intervalMs);
    }
  };
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
  let last = readKills(file) ?? 0;
  let closed = false;

  const check = (): boolean => {
    if (closed) return false;
    const now = readKills(file);
    if (now === undefined || now <= last) return false;
    last = now;
    onOom();
    return true;
  };

  const stopPolling = poll(opts.intervalMs ?? 1000, check);
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
      stopPolling();
      watcher?.close();
    },
  };
}
