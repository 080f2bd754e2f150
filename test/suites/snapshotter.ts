import { existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { Exchange } from '../../daemon/events/exchange.ts';
import { GarbageCollector } from '../../daemon/gc/collector.ts';
import { LeaseStore } from '../../daemon/leases/store.ts';
import { createLogger } from '../../daemon/log.ts';
import { MetadataDB } from '../../daemon/metadata/db.ts';
import type { Mount, Snapshotter } from '../../daemon/snapshots/snapshotter.ts';
import { SnapshotStore } from '../../daemon/snapshots/store.ts';
import { mountAll, unmountAll } from '../../native/mount.ts';
import { describeAsRoot } from '../support/root.ts';
import { errorCode } from '../support/util.ts';

/**
 * The conformance suite of snapshotter backends: what containerd's snapshotter contract promises
 * (keys, kinds, parents, errors, labels and filters, usage, garbage collection, mounts that show
 * the parents and keep the writes apart), checked through the SnapshotStore that puts a backend
 * behind the Snapshots service, without gRPC. Each backend runs it with one line in
 * daemon/snapshots/store.test.ts.
 */

/** Makes a backend whose directory is root (which exists, empty). */
export type OpenBackend = (root: string) => Snapshotter | Promise<Snapshotter>;

export interface SnapshotStoreFixture {
  /** this test's scratch directory: the backend's root and the metadata database live in it */
  readonly dir: string;
  readonly db: MetadataDB;
  readonly gc: GarbageCollector;
  /** a store over a new backend on the same root (and database) each time, registered with gc */
  open(): Promise<SnapshotStore>;
  /** closes the database and opens it again, as a restarted daemon would */
  reopenDb(): Promise<void>;
  /** an empty directory to mount on, outside dir, unmounted after the test */
  target(): string;
}

/** A fresh database, collector and backend root per test (beforeEach), all gone after it. */
export function useSnapshotStore(kind: string, backend: OpenBackend): SnapshotStoreFixture {
  let dir = '';
  let mountBase = '';
  let db: MetadataDB;
  let gc: GarbageCollector;
  const targets: string[] = [];

  beforeEach(async () => {
    dir = mkdtempSync('/tmp/berth-unit-');
    mountBase = mkdtempSync('/tmp/berth-unit-mnt-');
    db = await MetadataDB.open(join(dir, 'metadata'));
    gc = new GarbageCollector(db, createLogger('error'));
  });
  afterEach(async () => {
    // unmounted first, pass or fail, so that removing dir can never reach into a mounted tree
    for (const t of targets.splice(0)) await unmountAll(t);
    gc.stop();
    await db.close();
    rmSync(mountBase, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  return {
    get dir() {
      return dir;
    },
    get db() {
      return db;
    },
    get gc() {
      return gc;
    },
    async open() {
      const root = join(dir, kind);
      mkdirSync(root, { recursive: true });
      const store = new SnapshotStore(kind, await backend(root), db, new Exchange(), () => undefined);
      await store.init();
      gc.register(store.gcKind());
      return store;
    },
    async reopenDb() {
      await db.close();
      db = await MetadataDB.open(join(dir, 'metadata'));
    },
    target() {
      const t = join(mountBase, String(targets.length));
      mkdirSync(t);
      targets.push(t);
      return t;
    },
  };
}

const gcRoot = { 'containerd.io/gc.root': 'test' };

const option = (m: Mount, name: string) => m.options.find((o) => o.startsWith(`${name}=`))?.slice(name.length + 1);

/** The directory an active snapshot's own files are in, whatever the backend: a bind's source, an overlay's upper. */
const ownDir = (m: Mount) => (m.type === 'bind' ? m.source : option(m, 'upperdir')!);

/** containerd's DiskUsage, computed here independently: unique inodes, st_blocks * 512. */
function du(dir: string) {
  const seen = new Set<string>();
  let size = 0;
  const walk = (p: string) => {
    const st = lstatSync(p, { bigint: true });
    const id = `${st.dev}:${st.ino}`;
    if (!seen.has(id)) {
      seen.add(id);
      size += Number(st.blocks) * 512;
    }
    if (st.isDirectory()) for (const e of readdirSync(p)) walk(join(p, e));
  };
  walk(dir);
  return { size, inodes: seen.size };
}

/**
 * Runs the suite for one backend, as root whatever the backend: a commit measures the usage in a
 * child that chroots into the snapshot, and the mounts are real.
 */
export function snapshotterSuite(kind: string, backend: OpenBackend): void {
  describeAsRoot(`snapshotter ${kind} under the SnapshotStore (no gRPC)`, () => {
    const f = useSnapshotStore(kind, backend);
    cases(kind, f);
  });
}

function cases(kind: string, f: SnapshotStoreFixture) {
  it('hands out short, increasing ids that survive a reopen and are never reused', async () => {
    const s = await f.open();
    await s.prepare('a', 'one', '', gcRoot);
    await s.prepare('b', 'two', '', gcRoot);
    expect(readdirSync(s.dir).sort()).toEqual(['1', '2']);
    await s.remove('a', 'one');
    await s.cleanup();
    expect(readdirSync(s.dir)).toEqual(['2']);
    await f.reopenDb();
    const again = await f.open();
    await again.prepare('a', 'three', '', gcRoot);
    expect(readdirSync(again.dir).sort()).toEqual(['2', '3']);
  });

  it("answers with containerd's error classes", async () => {
    const s = await f.open();
    await s.prepare('ns', 'a', '', gcRoot);
    expect(await errorCode(s.prepare('ns', 'a', '', gcRoot))).toBe('AlreadyExists');
    expect(await errorCode(s.prepare('ns', 'b', 'a'))).toBe('InvalidArgument');
    expect(await errorCode(s.prepare('ns', 'b', 'missing'))).toBe('NotFound');
    expect(await errorCode(s.prepare('ns', '', ''))).toBe('InvalidArgument');
    await s.commit('ns', 'a-c', 'a', gcRoot);
    expect(await errorCode(s.stat('ns', 'a'))).toBe('NotFound');
    await s.view('ns', 'v', 'a-c', gcRoot);
    expect(await errorCode(s.commit('ns', 'v-c', 'v'))).toBe('FailedPrecondition');
    await s.prepare('ns', 'b', 'a-c', gcRoot);
    expect(await errorCode(s.commit('ns', 'a-c', 'b'))).toBe('AlreadyExists');
    expect(await errorCode(s.commit('ns', 'x', 'missing'))).toBe('NotFound');
    expect(await errorCode(s.remove('ns', 'a-c'))).toBe('FailedPrecondition');
    expect(await errorCode(s.remove('ns', 'missing'))).toBe('NotFound');
    expect(await errorCode(s.mounts('ns', 'missing'))).toBe('NotFound');
    expect(await errorCode(s.mounts('ns', 'a-c'))).toBe('FailedPrecondition');
    expect(await errorCode(s.update('ns', 'b', { x: 'y' }, ['parent']))).toBe('InvalidArgument');
    // the same key in another namespace is another snapshot
    expect(await errorCode(s.prepare('other', 'a-c', '', gcRoot))).toBe('no error');
    expect(await errorCode(s.prepare('other', 'b', 'a-c', gcRoot))).toBe('InvalidArgument');
  });

  it('removes directories no record names, but not one being filled', async () => {
    const s = await f.open();
    await s.prepare('ns', 'kept', '', gcRoot);
    mkdirSync(join(s.dir, '77', 'fs'), { recursive: true });
    mkdirSync(join(s.dir, 'new-leftover'));
    writeFileSync(join(s.dir, 'stray-file'), '');
    await s.cleanup();
    expect(readdirSync(s.dir)).toEqual(['1']);
  });

  it('frees the directory only after the record is gone, through the collector', async () => {
    const s = await f.open();
    await s.prepare('ns', 'x', '', gcRoot);
    await s.prepare('ns', 'unrooted', '');
    await s.remove('ns', 'x');
    expect(readdirSync(s.dir).sort()).toEqual(['1', '2']);
    const stats = await f.gc.collect();
    expect(stats.removed[`snapshots/${kind}`]).toBe(1); // the unrooted one
    expect(readdirSync(s.dir)).toEqual([]);
    expect(await s.list('ns')).toEqual([]);
  });

  it('keeps a chain from a gc.root leaf and what leases hold', async () => {
    const s = await f.open();
    const leases = new LeaseStore(f.db, async () => undefined);
    await leases.create('ns', 'hold');
    await s.prepare('ns', 'l1', '');
    await s.commit('ns', 'base', 'l1');
    await s.prepare('ns', 'l2', 'base');
    await s.commit('ns', 'top', 'l2', gcRoot);
    await s.prepare('ns', 'leased', '', {}, 'hold');
    await s.prepare('ns', 'loose', '');
    await f.gc.collect();
    expect((await s.list('ns')).map((i) => i.name)).toEqual(['base', 'leased', 'top']);
    await leases.delete('ns', 'hold');
    await s.update('ns', 'top', {}, ['labels']);
    await f.gc.collect();
    expect(await s.list('ns')).toEqual([]);
    expect(readdirSync(s.dir)).toEqual([]);
  });

  it('updates labels with field masks and lists with filters', async () => {
    const s = await f.open();
    const ns = 'labels';
    await s.prepare(ns, 'a', '', { ...gcRoot, team: 'red', tier: '1' });
    await s.commit(ns, 'a-c', 'a', { ...gcRoot, team: 'red' });
    await s.prepare(ns, 'b', 'a-c', { ...gcRoot, team: 'blue' });
    await s.view(ns, 'c', 'a-c', { ...gcRoot, 'dotted.key/x': 'v' });
    const b = await s.update(ns, 'b', { team: 'green', extra: 'ignored' }, ['labels.team']);
    expect(b.labels).toEqual({ ...gcRoot, team: 'green' });
    expect((await s.update(ns, 'b', { new: '1' }, ['labels.new', 'labels.team'])).labels).toEqual({ ...gcRoot, new: '1' });
    expect((await s.update(ns, 'b', { only: 'this' }, ['labels'])).labels).toEqual({ only: 'this' });
    expect((await s.update(ns, 'b', { ...gcRoot, all: 'replaced' }, [])).labels).toEqual({ ...gcRoot, all: 'replaced' });
    expect(await errorCode(s.update(ns, 'b', {}, ['parent']))).toBe('InvalidArgument');
    expect(await errorCode(s.update(ns, 'b', {}, ['kind']))).toBe('InvalidArgument');
    expect(await errorCode(s.update(ns, 'nope', {}, ['labels']))).toBe('NotFound');
    expect(await errorCode(s.update(ns, 'b', { k: 'v'.repeat(5000) }, ['labels.k']))).toBe('InvalidArgument');
    const names = async (filters: string[]) => (await s.list(ns, filters)).map((i) => i.name);
    expect(await names(['kind==committed'])).toEqual(['a-c']);
    expect(await names(['kind==view', 'kind==active'])).toEqual(['b', 'c']);
    expect(await names(['parent==a-c'])).toEqual(['b', 'c']);
    expect(await names(['name~=^a'])).toEqual(['a-c']);
    expect(await names(['labels.team==red'])).toEqual(['a-c']);
    expect(await names(['labels."dotted.key/x"==v'])).toEqual(['c']);
    expect(await names(['labels.all', 'kind==committed'])).toEqual(['a-c', 'b']);
    expect(await names(['kind!=committed,parent==a-c'])).toEqual(['b', 'c']);
    expect(await names([''])).toEqual(['a-c', 'b', 'c']);
    expect(await errorCode(s.list(ns, ['kind=="unterminated']))).toBe('InvalidArgument');
  });

  it("measures usage: the snapshot's own inodes and blocks, stored at commit, nothing for views", async () => {
    const s = await f.open();
    const ns = 'usage';
    const [m] = await s.prepare(ns, 'u', '', gcRoot);
    const own = ownDir(m!);
    expect(await s.usage(ns, 'u')).toEqual(du(own)); // the empty directory itself
    expect((await s.usage(ns, 'u')).inodes).toBe(1);
    writeFileSync(join(own, 'ten-k'), Buffer.alloc(10_000, 1));
    mkdirSync(join(own, 'd'));
    writeFileSync(join(own, 'd', 'small'), 'abc');
    linkSync(join(own, 'ten-k'), join(own, 'hard-link'));
    const measured = du(own);
    expect(measured.inodes).toBe(4);
    expect(measured.size).toBeGreaterThanOrEqual(10_000);
    expect(await s.usage(ns, 'u')).toEqual(measured);
    await s.commit(ns, 'u-c', 'u', gcRoot);
    writeFileSync(join(own, 'after-commit'), 'ignored'); // committed usage was measured at commit
    expect(await s.usage(ns, 'u-c')).toEqual(measured);
    await s.view(ns, 'u-v', 'u-c', gcRoot);
    expect(await s.usage(ns, 'u-v')).toEqual({ size: 0, inodes: 0 });
    const [c] = await s.prepare(ns, 'u-child', 'u-c', gcRoot);
    expect(await s.usage(ns, 'u-child')).toEqual(du(ownDir(c!)));
  });

  it('returns mounts that mount: parents show through, writes stay in the child, views are read-only', async () => {
    const s = await f.open();
    const ns = 'mnt';
    const [m1] = await s.prepare(ns, 'l1', '', gcRoot);
    const t1 = f.target();
    await mountAll([m1!], t1);
    writeFileSync(join(t1, 'from-l1'), 'one');
    mkdirSync(join(t1, 'dir'));
    writeFileSync(join(t1, 'dir', 'shadowed'), 'old');
    await unmountAll(t1);
    await s.commit(ns, 'l1-c', 'l1', gcRoot);

    const [m2] = await s.prepare(ns, 'l2', 'l1-c', gcRoot);
    const t2 = f.target();
    await mountAll([m2!], t2);
    expect(readFileSync(join(t2, 'from-l1'), 'utf8')).toBe('one');
    writeFileSync(join(t2, 'dir', 'shadowed'), 'new');
    writeFileSync(join(t2, 'from-l2'), 'two');
    rmSync(join(t2, 'from-l1'));
    await unmountAll(t2);
    await s.commit(ns, 'l2-c', 'l2', gcRoot);

    // a view of the two layers: read-only, the top layer wins
    const tv = f.target();
    await mountAll(await s.view(ns, 'v', 'l2-c', gcRoot), tv);
    expect(readdirSync(tv).sort()).toEqual(['dir', 'from-l2']);
    expect(readFileSync(join(tv, 'dir', 'shadowed'), 'utf8')).toBe('new');
    expect(() => writeFileSync(join(tv, 'x'), '')).toThrow(/EROFS/);
    await unmountAll(tv);
    // the same through Mounts, after the fact
    const tm = f.target();
    await mountAll(await s.mounts(ns, 'v'), tm);
    expect(existsSync(join(tm, 'from-l2'))).toBe(true);
    await unmountAll(tm);
    // the parent kept its files: the child's writes went to the child only
    const tp = f.target();
    await mountAll(await s.view(ns, 'p', 'l1-c', gcRoot), tp);
    expect(readdirSync(tp).sort()).toEqual(['dir', 'from-l1']);
    expect(readFileSync(join(tp, 'dir', 'shadowed'), 'utf8')).toBe('old');
    await unmountAll(tp);
  });
}
