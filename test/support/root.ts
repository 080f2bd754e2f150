import { spawnSync } from 'node:child_process';
import { describe, it } from 'vitest';

/**
 * Tests that need root (containers, mounts, cgroups) and sometimes a host tool: when something is
 * missing they are skipped with the reason in their title, "… (skipped: needs root)", so a
 * report shows why they did not run. No side effects on import: store unit tests use it too.
 */

export const isRoot = process.getuid?.() === 0;

/** Whether a command is on PATH. */
export function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/** Something a test needs from the host besides root, and what to say when it is missing. */
export interface Need {
  ok: boolean;
  reason: string;
}

export const installed = (cmd: string): Need => ({ ok: have(cmd), reason: `${cmd} is not installed` });

/** The reason of the first unmet need, root first; '' when all are met. */
export function missing(needs: Need[] = []): string {
  return [{ ok: isRoot, reason: 'needs root' }, ...needs].find((n) => !n.ok)?.reason ?? '';
}

const titled = (name: string, reason: string) => (reason ? `${name} (skipped: ${reason})` : name);

type Body = () => void;

/** describe() as root (and with `needs`, when given before the body); skipped otherwise. */
export function describeAsRoot(name: string, ...args: [fn: Body] | [needs: Need[], fn: Body]): void {
  const [needs, fn] = args.length === 1 ? [[], args[0]] : args;
  const reason = missing(needs);
  describe.skipIf(reason !== '')(titled(name, reason), fn);
}

/** it() as root; skipped otherwise. */
export function itAsRoot(name: string, fn: () => unknown, timeout?: number): void {
  const reason = missing();
  it.skipIf(reason !== '')(titled(name, reason), fn, timeout);
}
