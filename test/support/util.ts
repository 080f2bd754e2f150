import { createHash } from 'node:crypto';
import { BerthError } from '../../core/errors.ts';
import type { LinuxSeccomp } from '../../core/spec/types.ts';

export const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** The error class a promise fails with ('no error' if it succeeds). */
export async function errorCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return err instanceof BerthError ? err.code : `not a BerthError: ${String(err)}`;
  }
  return 'no error';
}

/** The error a promise fails with. */
export async function failure(p: Promise<unknown>): Promise<BerthError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof BerthError) return err;
    throw err;
  }
  throw new Error('expected the call to fail');
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * What `read` returns once `done` holds for it, checked every 50 ms for up to `ms`; the last
 * reading when time runs out (so that the caller's assertion shows what was there). For what the
 * daemon finishes after answering, such as the removal of a `berth run --rm` container.
 */
export async function eventually<T>(read: () => T | Promise<T>, done: (value: T) => boolean, ms = 10_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > until) return value;
    await sleep(50);
  }
}

/**
 * ctr's output with what differs between two daemons and two runs blanked: times, ages, log
 * timestamps, and the order of label maps (Go prints maps in random order). `extra` runs first,
 * for what one comparison must blank besides (paths, internal keys).
 */
export function normaliseCtr(s: string, extra: (s: string) => string = (x) => x): string {
  return extra(s)
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)/g, 'TIME')
    .replace(/time="[^"]*"/g, 'time=TIME')
    .replace(/(Less than a second|About a minute|\d+ (seconds?|minutes?|hours?))( ago)?/g, 'AGE')
    .replace(/\S*=\S*(,\S*=\S*)+/g, (labels) => labels.split(',').sort().join(','))
    .replace(/[ \t]+/g, ' ')
    .replace(/ +\n/g, '\n')
    .trim();
}

/** A grpc-js method definition of service t.T that passes message bytes as they are (for transport tests). */
export const rawMethod = (name: string, requestStream = false, responseStream = false) => ({
  path: `/t.T/${name}`,
  requestStream,
  responseStream,
  requestSerialize: (b: Buffer) => b,
  requestDeserialize: (b: Buffer) => b,
  responseSerialize: (b: Buffer) => b,
  responseDeserialize: (b: Buffer) => b,
  originalName: name,
});

/** Something a test starts and must end: a registry (stop), a daemon (cleanup). */
type Started = { cleanup(): Promise<unknown> } | { stop(): Promise<unknown> };

/**
 * Starts several things side by side, like Promise.all; but when one fails to start, the others
 * that did start are ended again before the failure is thrown, so that no afterAll has to know
 * about them (Promise.all would drop them, and leave their processes running).
 */
export async function startTogether<T extends readonly Started[]>(starts: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const settled = await Promise.allSettled(starts as readonly Promise<Started>[]);
  const failed = settled.find((s) => s.status === 'rejected');
  if (!failed) return settled.map((s) => (s as PromiseFulfilledResult<Started>).value) as unknown as T;
  await Promise.allSettled(settled.map((s) => (s.status === 'fulfilled' ? ('cleanup' in s.value ? s.value.cleanup() : s.value.stop()) : undefined)));
  throw failed.reason;
}

/** A seccomp profile's rules by syscall name, each as `action [errno] [index op value]...`. */
export function seccompRules(p: LinuxSeccomp): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const r of p.syscalls ?? []) {
    const text = [r.action, r.errnoRet ?? '', ...(r.args ?? []).map((a) => `${a.index} ${a.op} ${a.value}${a.valueTwo ? ` ${a.valueTwo}` : ''}`)]
      .filter((x) => x !== '')
      .join(' ');
    for (const n of r.names) out.set(n, [...(out.get(n) ?? []), text]);
  }
  return out;
}
