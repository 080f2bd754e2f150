import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Berthd, startBerthd } from './support/harness.ts';

describe('berthd starts and answers', () => {
  let d: Berthd;
  beforeAll(async () => {
    d = await startBerthd();
  });
  afterAll(async () => {
    await d?.cleanup();
  });

  it('answers Version over its socket', async () => {
    const c = d.client();
    const res = await c.version.Version({});
    expect(res.version).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('answers ctr version', () => {
    const r = d.ctr(['version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Server:');
  });
});
