import { readdirSync, readFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Berthd, berthdWithRunImage, berthShimArgs } from './support/harness.ts';
import { sleep } from './support/util.ts';

/** The niceness of a process's threads, from /proc/<pid>/task/<tid>/stat (field 19). */
function threadNiceness(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).map((tid) => {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  });
}

/**
 * berthd's warm shim starts and waits at the lowest priority (it must not slow the containers
 * being created meanwhile), but the shim it becomes, and so the container, runs at berthd's.
 */
describe("the warm shim's priority", () => {
  let b: Berthd;
  let image: string;
  const ns = 'warm-priority';
  const berth = (args: string[]) => b.berth(['-n', ns, ...args]);

  // berth's own Node shim, not berthd's runc driver
  berthdWithRunImage(
    ns,
    (d, img) => {
      b = d;
      image = img;
    },
    { args: berthShimArgs() },
  );

  it("is the lowest while it waits, berthd's once it serves a container", async () => {
    const warmShim = () => {
      const s = readdirSync(join(b.state, 's')).find((f) => f.startsWith('warm-'));
      return s ? Number(s.slice('warm-'.length)) : 0;
    };
    for (let i = 0; i < 100 && !warmShim(); i++) await sleep(50);
    const waiting = warmShim();
    expect(waiting).toBeGreaterThan(0);
    expect(new Set(threadNiceness(waiting))).toEqual(new Set([19]));

    // the container reports its own niceness (field 19 of /proc/self/stat, after the command name)
    const r = berth(['run', '--rm', image, 'prio', 'sh', '-c', 'cut -d")" -f2 /proc/self/stat | cut -d" " -f18']);
    expect(r.code).toBe(0);
    // berthd runs at the niceness of this test process
    expect(r.stdout.trim()).toBe(String(getPriority()));
  }, 60_000);
});
