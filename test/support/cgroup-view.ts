import { existsSync, statfsSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Debian 12's crun 1.8.1 refuses hybrid cgroup hosts ("cgroups in hybrid mode not supported"):
 * cgroup v1 controllers with cgroup2 mounted at /sys/fs/cgroup/unified, as on these machines.
 * A process started through {@link withoutCgroup2} runs in a private mount namespace where that
 * mount is gone, so it (and the shims, runtimes and containers it starts) sees a pure v1 host.
 * Used by the crun tests and by `npm run bench -- run --crun`.
 */
export const CGROUP2_MAGIC = 0x63677270;
export const cgroupRoot = '/sys/fs/cgroup';

/** The cgroup2 mount that makes a v1 host hybrid, or undefined (pure v1 or pure v2). */
export const hybridUnified: string | undefined = (() => {
  try {
    if (statfsSync(cgroupRoot).type === CGROUP2_MAGIC) return undefined; // pure v2
    const u = join(cgroupRoot, 'unified');
    return existsSync(u) && statfsSync(u).type === CGROUP2_MAGIC ? u : undefined;
  } catch {
    return undefined;
  }
})();

/** The command line that runs cmd where the cgroup2 mount of a hybrid host is hidden (cmd itself elsewhere). */
export function withoutCgroup2(cmd: readonly string[]): string[] {
  if (!hybridUnified) return [...cmd];
  return ['unshare', '-m', '--propagation', 'private', 'sh', '-c', `umount ${hybridUnified} && exec "$0" "$@"`, ...cmd];
}
