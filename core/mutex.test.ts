import { describe, expect, it } from 'vitest';
import { Limiter, Mutex } from './mutex.ts';

describe('Mutex', () => {
  it('runs sections one at a time in arrival order; a failing one does not stop the next', async () => {
    const m = new Mutex();
    const order: string[] = [];
    const section =
      (name: string, ms: number, fail = false) =>
      async () => {
        order.push(`${name}+`);
        await new Promise((r) => setTimeout(r, ms));
        order.push(`${name}-`);
        if (fail) throw new Error(name);
        return name;
      };
    const a = m.run(section('a', 30));
    const b = m.run(section('b', 5, true));
    const c = m.run(section('c', 1));
    expect(m.idle).toBe(false);
    await expect(a).resolves.toBe('a');
    await expect(b).rejects.toThrow('b');
    await expect(c).resolves.toBe('c');
    expect(order).toEqual(['a+', 'a-', 'b+', 'b-', 'c+', 'c-']);
  });

  it('is idle once its last section has settled, also when a caller looks from its own result', async () => {
    const m = new Mutex();
    const seen: boolean[] = [];
    const first = m.run(async () => 1).finally(() => seen.push(m.idle));
    const second = m.run(async () => 2).finally(() => seen.push(m.idle));
    await Promise.all([first, second]);
    expect(seen).toEqual([false, true]);
    expect(m.idle).toBe(true);
  });
});

describe('Limiter', () => {
  it('runs at most n sections at once, the waiting ones in arrival order; a failure frees its slot', async () => {
    const l = new Limiter(2);
    let running = 0;
    let most = 0;
    const started: number[] = [];
    const section = (i: number) => async () => {
      started.push(i);
      most = Math.max(most, ++running);
      await new Promise((r) => setTimeout(r, 10));
      running--;
      if (i === 1) throw new Error('one');
      return i;
    };
    const results = await Promise.allSettled([0, 1, 2, 3, 4].map((i) => l.run(section(i))));
    expect(most).toBe(2);
    expect(started).toEqual([0, 1, 2, 3, 4]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled']);
    const release = await l.acquire();
    release();
    release(); // a second release gives back nothing more
    await Promise.all([l.acquire(), l.acquire()]);
    let third = false;
    void l.acquire().then(() => (third = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(third).toBe(false);
  });
});
