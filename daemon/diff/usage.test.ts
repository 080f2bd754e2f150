import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { setUsageChildIdleMs, treeUsage } from './usage.ts';

const dir = mkdtempSync(join(tmpdir(), 'berth-usage-'));
writeFileSync(join(dir, 'a'), 'x'.repeat(10_000));
afterAll(() => {
  setUsageChildIdleMs(15_000);
  rmSync(dir, { recursive: true, force: true });
});

it('measures a tree: every inode once, with its blocks', async () => {
  const u = await treeUsage(dir);
  expect(u.inodes).toBe(2);
  expect(u.size).toBeGreaterThanOrEqual(10_000);
});

it('a measure asked for just as an idle child leaves gets a child that answers', async () => {
  // the child leaves after 30 ms unused; each measure lands about when the last one's child goes
  setUsageChildIdleMs(30);
  for (let i = 0; i < 30; i++) {
    await treeUsage(dir);
    await new Promise((r) => setTimeout(r, 30 + (i % 3)));
  }
  expect((await treeUsage(dir)).inodes).toBe(2);
}, 60_000);
