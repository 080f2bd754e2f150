import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { errorCode } from '../../test/support/util.ts';
import { Exchange } from '../events/exchange.ts';
import { GarbageCollector } from '../gc/collector.ts';
import { LeaseStore } from '../leases/store.ts';
import { createLogger } from '../log.ts';
import { MetadataDB } from '../metadata/db.ts';
import { NativeSnapshotter } from './native.ts';
import { OverlaySnapshotter } from './overlay.ts';
import { SnapshotStore } from './store.ts';

const root = { 'containerd.io/gc.root': 'test' };

describe('SnapshotStore (no gRPC)', () => {
  let dir: string;
  let db: MetadataDB;
  let gc: GarbageCollector;

  const open = async (kind: 'overlayfs' | 'native' = 'overlayfs') => {
    const backendRoot = join(dir, kind);
    mkdirSync(backendRoot, { recursive: true });
    const backend = kind === 'overlayfs' ? await OverlaySnapshotter.create(backendRoot) : new NativeSnapshotter(backendRoot);
    const store = new SnapshotStore(kind, backend, db, new Exchange(), () => undefined);
    await store.init();
    gc.register(store.gcKind());
    return store;
  };

  beforeEach(async () => {
    dir = mkdtempSync('/tmp/berth-unit-');
    db = await MetadataDB.open(join(dir, 'metadata'));
    gc = new GarbageCollector(db, createLogger('error'));
  });
  afterEach(async () => {
    gc.stop();
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('hands out short, increasing ids that survive a reopen and are never reused', async () => {
    const s = await open();
    await s.prepare('a', 'one', '', root);
    await s.prepare('b', 'two', '', root);
    expect(readdirSync(s.dir).sort()).toEqual(['1', '2']);
    await s.remove('a', 'one');
    await s.cleanup();
    expect(readdirSync(s.dir)).toEqual(['2']);
    await db.close();
    db = await MetadataDB.open(join(dir, 'metadata'));
    const again = await open();
    await again.prepare('a', 'three', '', root);
    expect(readdirSync(again.dir).sort()).toEqual(['2', '3']);
  });

  it("answers with containerd's error classes", async () => {
    const s = await open();
    await s.prepare('ns', 'a', '', root);
    expect(await errorCode(s.prepare('ns', 'a', '', root))).toBe('AlreadyExists');
    expect(await errorCode(s.prepare('ns', 'b', 'a'))).toBe('InvalidArgument');
    expect(await errorCode(s.prepare('ns', 'b', 'missing'))).toBe('NotFound');
    expect(await errorCode(s.prepare('ns', '', ''))).toBe('InvalidArgument');
    await s.commit('ns', 'a-c', 'a', root);
    expect(await errorCode(s.stat('ns', 'a'))).toBe('NotFound');
    await s.view('ns', 'v', 'a-c', root);
    expect(await errorCode(s.commit('ns', 'v-c', 'v'))).toBe('FailedPrecondition');
    await s.prepare('ns', 'b', 'a-c', root);
    expect(await errorCode(s.commit('ns', 'a-c', 'b'))).toBe('AlreadyExists');
    expect(await errorCode(s.commit('ns', 'x', 'missing'))).toBe('NotFound');
    expect(await errorCode(s.remove('ns', 'a-c'))).toBe('FailedPrecondition');
    expect(await errorCode(s.remove('ns', 'missing'))).toBe('NotFound');
    expect(await errorCode(s.mounts('ns', 'missing'))).toBe('NotFound');
    expect(await errorCode(s.mounts('ns', 'a-c'))).toBe('FailedPrecondition');
    expect(await errorCode(s.update('ns', 'b', { x: 'y' }, ['parent']))).toBe('InvalidArgument');
    // the same key in another namespace is another snapshot
    expect(await errorCode(s.prepare('other', 'a-c', '', root))).toBe('no error');
    expect(await errorCode(s.prepare('other', 'b', 'a-c', root))).toBe('InvalidArgument');
  });

  it('removes directories no record names, but not one being filled', async () => {
    const s = await open();
    await s.prepare('ns', 'kept', '', root);
    mkdirSync(join(s.dir, '77', 'fs'), { recursive: true });
    mkdirSync(join(s.dir, 'new-leftover'));
    writeFileSync(join(s.dir, 'stray-file'), '');
    await s.cleanup();
    expect(readdirSync(s.dir)).toEqual(['1']);
  });

  it('frees the directory only after the record is gone, through the collector', async () => {
    const s = await open();
    await s.prepare('ns', 'x', '', root);
    await s.prepare('ns', 'unrooted', '');
    await s.remove('ns', 'x');
    expect(readdirSync(s.dir).sort()).toEqual(['1', '2']);
    const stats = await gc.collect();
    expect(stats.removed['snapshots/overlayfs']).toBe(1); // the unrooted one
    expect(readdirSync(s.dir)).toEqual([]);
    expect(await s.list('ns')).toEqual([]);
  });

  it('keeps a chain from a gc.root leaf and what leases hold', async () => {
    const s = await open();
    const leases = new LeaseStore(db, async () => undefined);
    await leases.create('ns', 'hold');
    await s.prepare('ns', 'l1', '');
    await s.commit('ns', 'base', 'l1');
    await s.prepare('ns', 'l2', 'base');
    await s.commit('ns', 'top', 'l2', root);
    await s.prepare('ns', 'leased', '', {}, 'hold');
    await s.prepare('ns', 'loose', '');
    await gc.collect();
    expect((await s.list('ns')).map((i) => i.name)).toEqual(['base', 'leased', 'top']);
    await leases.delete('ns', 'hold');
    await s.update('ns', 'top', {}, ['labels']);
    await gc.collect();
    expect(await s.list('ns')).toEqual([]);
    expect(readdirSync(s.dir)).toEqual([]);
  });

  it('native: a child starts as an exact copy of its parent', async () => {
    const s = await open('native');
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
