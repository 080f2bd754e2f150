import { describe, expect, it } from 'vitest';
import { startTogether } from './support/util.ts';

describe('startTogether', () => {
  it('ends what did start when something else fails to, then throws that failure', async () => {
    const ended: string[] = [];
    const registry = { stop: async () => void ended.push('registry') };
    const daemon = { cleanup: async () => void ended.push('daemon') };
    const broken = Promise.reject(new Error('address already in use'));
    await expect(startTogether([Promise.resolve(registry), broken, Promise.resolve(daemon)])).rejects.toThrow('address already in use');
    expect(ended.sort()).toEqual(['daemon', 'registry']);
  });

  it('gives everything in order when all start', async () => {
    const a = { stop: async () => undefined };
    const b = { cleanup: async () => undefined };
    expect(await startTogether([Promise.resolve(a), Promise.resolve(b)])).toEqual([a, b]);
  });
});
