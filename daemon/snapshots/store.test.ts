import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { snapshotterSuite, useSnapshotStore } from '../../test/suites/snapshotter.ts';
import { describeAsRoot } from '../../test/support/root.ts';
import { NativeSnapshotter } from './native.ts';
import { OverlaySnapshotter } from './overlay.ts';

// Every backend passes the conformance suite: one line each.
snapshotterSuite('native', (root) => new NativeSnapshotter(root));
snapshotterSuite('overlayfs', (root) => OverlaySnapshotter.create(root));

const root = { 'containerd.io/gc.root': 'test' };

describeAsRoot('native snapshotter', () => {
  const f = useSnapshotStore('native', (dir) => new NativeSnapshotter(dir));

  it('a child starts as an exact copy of its parent', async () => {
    const s = await f.open();
    const [m] = await s.prepare('ns', 'p', '', root);
    writeFileSync(join(m!.source, 'file'), 'parent');
    await s.commit('ns', 'p-c', 'p', root);
    const [c] = await s.prepare('ns', 'c', 'p-c', root);
    expect(c!.source).not.toBe(m!.source);
    expect(existsSync(join(c!.source, 'file'))).toBe(true);
    const [v] = await s.view('ns', 'v', 'p-c', root);
    expect(v).toEqual({ type: 'bind', source: m!.source, options: ['rbind', 'ro'] });
  });
});
