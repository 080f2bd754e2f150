import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope__Output } from '../api/gen/containerd/services/events/v1/Envelope.ts';
import { unpackAny } from '../core/any.ts';
import type { Mount } from '../core/mount.ts';
import { mountAll, unmountAll } from '../native/mount.ts';
import type { BerthClient } from '../transport/client.ts';
import { collect } from '../transport/typed.ts';
import { grpcEvents, metadata } from './support/grpc-js.ts';
import { type Berthd, startBerthd } from './support/harness.ts';
import { errorCode, failure, sleep } from './support/util.ts';

const gcRoot = { 'containerd.io/gc.root': 'test' };

/** The snapshots API of one client, for one snapshotter. */
function api(c: BerthClient, snapshotter = 'overlayfs') {
  const s = c.snapshots;
  return {
    prepare: async (key: string, parent = '', labels: Record<string, string> = gcRoot) => (await s.Prepare({ snapshotter, key, parent, labels })).mounts,
    view: async (key: string, parent = '', labels: Record<string, string> = gcRoot) => (await s.View({ snapshotter, key, parent, labels })).mounts,
    mounts: async (key: string) => (await s.Mounts({ snapshotter, key })).mounts,
    commit: (name: string, key: string, labels: Record<string, string> = gcRoot) => s.Commit({ snapshotter, name, key, labels }),
    remove: (key: string) => s.Remove({ snapshotter, key }),
    stat: async (key: string) => (await s.Stat({ snapshotter, key })).info!,
    update: async (name: string, labels: Record<string, string>, paths: string[]) =>
      (await s.Update({ snapshotter, info: { name, labels }, update_mask: { paths } })).info!,
    list: async (filters: string[] = []) => (await collect(s.List({ snapshotter, filters }))).flatMap((m) => m.info),
    batches: async () => (await collect(s.List({ snapshotter, filters: [] }))).map((m) => m.info.length),
    usage: async (key: string) => {
      const u = await s.Usage({ snapshotter, key });
      return { size: Number(u.size), inodes: Number(u.inodes) };
    },
    cleanup: () => s.Cleanup({ snapshotter }),
  };
}

const option = (m: Mount, name: string) => m.options.find((o) => o.startsWith(`${name}=`))?.slice(name.length + 1);

// Mount targets live apart from the daemons' directories and are unmounted after every test,
// pass or fail, so that removing a daemon's root can never reach into a mounted tree.
const mountBase = fs.mkdtempSync('/tmp/berth-snap-mnt-');
const targets: string[] = [];
let nTarget = 0;
function target(): string {
  const t = join(mountBase, String(nTarget++));
  fs.mkdirSync(t);
  targets.push(t);
  return t;
}
async function unmountTargets() {
  for (const t of targets.splice(0)) await unmountAll(t);
}

describe('snapshots service (overlayfs and native) through a real berthd', () => {
  let d: Berthd;
  beforeAll(async () => {
    d = await startBerthd();
  });
  afterEach(unmountTargets);
  afterAll(async () => {
    await unmountTargets();
    await d?.cleanup();
    fs.rmSync(mountBase, { recursive: true, force: true });
  });

  const snapshotDirs = (sn = 'overlayfs') => fs.readdirSync(join(d.root, 'snapshots', sn, 'snapshots')).sort();

  it('is listed as two snapshotter plugins and a gRPC service', async () => {
    const c = d.client();
    const res = await c.introspection.Plugins({ filters: [] });
    const sn = res.plugins.filter((p) => p.type === 'io.containerd.snapshotter.v1');
    expect(sn.map((p) => [p.id, p.init_err])).toEqual([
      ['overlayfs', null],
      ['native', null],
    ]);
    expect(sn[0]!.exports.root).toBe(join(d.root, 'snapshots', 'overlayfs'));
    expect(sn[0]!.platforms).toHaveLength(1);
    expect(res.plugins.some((p) => p.type === 'io.containerd.grpc.v1' && p.id === 'snapshots')).toBe(true);
  });

  it("goes through the whole lifecycle with containerd's answers and errors", async () => {
    const s = api(d.client('life'));
    const base = await s.prepare('base');
    expect(base).toEqual([
      { type: 'bind', source: expect.stringMatching(/\/snapshots\/overlayfs\/snapshots\/\d+\/fs$/), target: '', options: ['rw', 'rbind'] },
    ]);
    expect(await s.stat('base')).toMatchObject({ name: 'base', parent: '', kind: 'ACTIVE', labels: gcRoot });
    expect(await s.mounts('base')).toEqual(base);
    expect((await failure(s.prepare('base'))).message).toBe('snapshot "base"'); // the client strips ": already exists"
    expect((await failure(s.prepare('x', 'nope'))).code).toBe('NotFound');
    const notCommitted = await failure(s.prepare('x', 'base'));
    expect(notCommitted.code).toBe('InvalidArgument');
    expect(notCommitted.message).toContain('not committed');

    await s.commit('base-c', 'base', { 'containerd.io/gc.root': 'x', committed: 'yes' });
    expect(await errorCode(s.stat('base'))).toBe('NotFound');
    expect(await s.stat('base-c')).toMatchObject({ name: 'base-c', parent: '', kind: 'COMMITTED', labels: { 'containerd.io/gc.root': 'x', committed: 'yes' } });
    expect(await errorCode(s.mounts('base-c'))).toBe('FailedPrecondition');
    // a key used once can be used again
    await s.prepare('base');
    await s.remove('base');

    const child = await s.prepare('child', 'base-c');
    expect(child).toHaveLength(1);
    expect(child[0]).toMatchObject({ type: 'overlay', source: 'overlay' });
    const names = child[0]!.options.map((o) => o.split('=')[0]);
    expect(names).toEqual([...(fs.existsSync('/sys/module/overlay/parameters/index') ? ['index'] : []), 'workdir', 'upperdir', 'lowerdir']);
    expect(option(child[0]!, 'lowerdir')).toBe(base[0]!.source);
    expect(option(child[0]!, 'workdir')).toBe(join(option(child[0]!, 'upperdir')!, '..', 'work'));

    const view = await s.view('view', 'base-c');
    expect(view).toEqual([{ type: 'bind', source: base[0]!.source, target: '', options: ['ro', 'rbind'] }]);
    const emptyView = await s.view('empty-view');
    expect(emptyView[0]).toMatchObject({ type: 'bind', options: ['ro', 'rbind'] });

    expect(await errorCode(s.commit('view-c', 'view'))).toBe('FailedPrecondition');
    expect((await failure(s.commit('base-c', 'child'))).code).toBe('AlreadyExists');
    expect((await failure(s.commit('x', 'nope'))).message).toBe('snapshot nope does not exist');
    const withChild = await failure(s.remove('base-c'));
    expect([withChild.code, withChild.message]).toEqual(['FailedPrecondition', 'cannot remove snapshot with child']);
    for (const missing of [() => s.stat('nope'), () => s.mounts('nope'), () => s.remove('nope'), () => s.usage('nope')])
      expect(await errorCode(missing())).toBe('NotFound');
    expect(await errorCode(s.prepare(''))).toBe('InvalidArgument');

    // a view of two committed layers is an overlay with lowerdirs only
    await s.commit('child-c', 'child');
    const two = await s.view('two', 'child-c');
    expect(two[0]!.type).toBe('overlay');
    expect(two[0]!.options.some((o) => o.startsWith('upperdir=') || o.startsWith('workdir='))).toBe(false);
    expect(option(two[0]!, 'lowerdir')!.split(':')).toHaveLength(2);

    expect((await s.list()).map((i) => `${i.name}<${i.parent}:${i.kind}`)).toEqual([
      'base-c<:COMMITTED',
      'child-c<base-c:COMMITTED',
      'empty-view<:VIEW',
      'two<child-c:VIEW',
      'view<base-c:VIEW',
    ]);
    for (const key of ['two', 'view', 'empty-view', 'child-c', 'base-c']) await s.remove(key);
    expect(await s.list()).toEqual([]);
  });

  it('answers InvalidArgument for a snapshotter that is not loaded or not named', async () => {
    const c = d.client();
    const unknown = await failure(c.snapshots.Stat({ snapshotter: 'zfs', key: 'x' }));
    expect([unknown.code, unknown.message]).toEqual(['InvalidArgument', 'snapshotter not loaded: zfs']);
    expect(await errorCode(c.snapshots.Stat({ snapshotter: '', key: 'x' }))).toBe('InvalidArgument');
    expect(await errorCode(collect(c.snapshots.List({ snapshotter: 'zfs', filters: [] })))).toBe('InvalidArgument');
  });

  it('returns mounts that mount: parents show through, writes land in the upper directory', async () => {
    const s = api(d.client('mnt'));
    const [m1] = await s.prepare('l1');
    const t1 = target();
    await mountAll([m1!], t1);
    fs.writeFileSync(join(t1, 'from-l1'), 'one');
    fs.mkdirSync(join(t1, 'dir'));
    fs.writeFileSync(join(t1, 'dir', 'shadowed'), 'old');
    await unmountAll(t1);
    await s.commit('l1-c', 'l1');

    const [m2] = await s.prepare('l2', 'l1-c');
    const t2 = target();
    await mountAll([m2!], t2);
    expect(fs.readFileSync(join(t2, 'from-l1'), 'utf8')).toBe('one');
    fs.writeFileSync(join(t2, 'dir', 'shadowed'), 'new');
    fs.writeFileSync(join(t2, 'from-l2'), 'two');
    fs.rmSync(join(t2, 'from-l1'));
    const upper = option(m2!, 'upperdir')!;
    expect(fs.readFileSync(join(upper, 'from-l2'), 'utf8')).toBe('two');
    expect(fs.readFileSync(join(upper, 'dir', 'shadowed'), 'utf8')).toBe('new');
    expect(fs.statSync(join(upper, 'from-l1')).isCharacterDevice()).toBe(true); // overlay whiteout
    expect(fs.readFileSync(join(m1!.source, 'dir', 'shadowed'), 'utf8')).toBe('old');
    await unmountAll(t2);
    await s.commit('l2-c', 'l2');

    // a view of the two layers: read-only, the top layer wins
    const v = await s.view('v', 'l2-c');
    const tv = target();
    await mountAll(v, tv);
    expect(fs.readdirSync(tv).sort()).toEqual(['dir', 'from-l2']);
    expect(fs.readFileSync(join(tv, 'dir', 'shadowed'), 'utf8')).toBe('new');
    expect(() => fs.writeFileSync(join(tv, 'x'), '')).toThrow(/EROFS/);
    await unmountAll(tv);
    // the same through Mounts, after the fact
    const tm = target();
    await mountAll(await s.mounts('v'), tm);
    expect(fs.existsSync(join(tm, 'from-l2'))).toBe(true);
    await unmountAll(tm);
  });

  it('stacks 128 committed layers and mounts the lot', async () => {
    // built under a lease, as a pull does, so that no collection can take unfinished layers
    const c = d.client('deep');
    await c.leases.Create({ id: 'unpack' });
    const s = api(d.client('deep', 'unpack'));
    let parent = '';
    for (let i = 1; i <= 128; i++) {
      const [m] = await s.prepare(`extract-${i}`, parent, {});
      const dir = m!.type === 'bind' ? m!.source : option(m!, 'upperdir')!;
      fs.writeFileSync(join(dir, `layer-${i}`), String(i));
      fs.writeFileSync(join(dir, 'top'), String(i));
      await s.commit(`layer-${i}`, `extract-${i}`, i === 128 ? gcRoot : {});
      parent = `layer-${i}`;
    }
    const [m] = await s.prepare('container', parent);
    expect(m!.type).toBe('overlay');
    expect(option(m!, 'lowerdir')!.split(':')).toHaveLength(128);
    expect(m!.options.join(',').length).toBeGreaterThan(4096);
    const t = target();
    await mountAll([m!], t);
    expect(fs.readdirSync(t).filter((f) => f.startsWith('layer-'))).toHaveLength(128);
    expect(fs.readFileSync(join(t, 'top'), 'utf8')).toBe('128');
    fs.writeFileSync(join(t, 'mine'), 'x');
    expect(fs.existsSync(join(option(m!, 'upperdir')!, 'mine'))).toBe(true);
    await unmountAll(t);
    // the gc.root on the top layer keeps all 128 once the lease is gone
    await c.leases.Delete({ id: 'unpack', sync: true });
    expect(await s.list(['kind==committed'])).toHaveLength(128);
  });

  it('streams List in batches of 100', async () => {
    const s = api(d.client('many'));
    for (let i = 0; i < 250; i++) await s.view(`v-${String(i).padStart(3, '0')}`);
    expect(await s.batches()).toEqual([100, 100, 50]);
  });

  it('publishes prepare, commit and remove events', async () => {
    const c = d.client('ev');
    const got: Envelope__Output[] = [];
    const sub: grpc.ClientReadableStream<Envelope__Output> = grpcEvents(c).Subscribe({ filters: ['topic~="^/snapshot/"'] }, metadata(c));
    sub.on('data', (e) => got.push(e));
    sub.on('error', () => undefined);
    await sleep(50);
    const s = api(c);
    await s.prepare('e1');
    await s.commit('e1-c', 'e1');
    await s.view('e-view', 'e1-c'); // containerd publishes nothing for a view
    await s.remove('e-view');
    await sleep(100);
    sub.cancel();
    expect(got.map((e) => `${e.namespace} ${e.topic}`)).toEqual(['ev /snapshot/prepare', 'ev /snapshot/commit', 'ev /snapshot/remove']);
    expect(got.map((e) => unpackAny(e.event!).message)).toEqual([
      { key: 'e1', parent: '', snapshotter: 'overlayfs' },
      { key: 'e1', name: 'e1-c', snapshotter: 'overlayfs' },
      { key: 'e-view', snapshotter: 'overlayfs' },
    ]);
  });

  describe('garbage collection', () => {
    const gcNow = async (c: BerthClient) => {
      await c.leases.Create({ id: 'gc-trigger' });
      await c.leases.Delete({ id: 'gc-trigger', sync: true });
    };

    it('a snapshot held only by a lease goes with the lease, directory and all', async () => {
      const c = d.client('gc-lease');
      await c.leases.Create({ id: 'pull' });
      const leased = api(d.client('gc-lease', 'pull'));
      const [m] = await leased.prepare('extract', '', {});
      await leased.commit('layer', 'extract', {});
      const res = await c.leases.ListResources({ id: 'pull' });
      expect(res.resources).toEqual([{ id: 'layer', type: 'snapshots/overlayfs' }]);
      await gcNow(c);
      expect((await api(c).stat('layer')).kind).toBe('COMMITTED');
      const dir = join(m!.source, '..');
      expect(fs.existsSync(dir)).toBe(true);
      await c.leases.Delete({ id: 'pull', sync: true });
      expect(await errorCode(api(c).stat('layer'))).toBe('NotFound');
      expect(fs.existsSync(dir)).toBe(false);
    });

    it('gc.root on the top keeps the whole chain; removing the root label lets it all go', async () => {
      const c = d.client('gc-root');
      await c.leases.Create({ id: 'build' });
      const leased = api(d.client('gc-root', 'build'));
      await leased.prepare('l1', '', {});
      await leased.commit('c1', 'l1', {});
      await leased.prepare('l2', 'c1', {});
      await leased.commit('c2', 'l2', {});
      await leased.prepare('top', 'c2', gcRoot);
      await leased.prepare('stray', '', {});
      await c.leases.Delete({ id: 'build', sync: true });
      const s = api(c);
      expect((await s.list()).map((i) => i.name)).toEqual(['c1', 'c2', 'top']);
      await s.update('top', {}, ['labels.containerd.io/gc.root']);
      await gcNow(c);
      expect(await s.list()).toEqual([]);
    });

    it('content gc.ref.snapshot labels keep snapshots, as an image config keeps its unpacked layers', async () => {
      const c = d.client('gc-ref');
      const s = api(c);
      await s.prepare('x', '', {});
      await s.commit('sha256:chain', 'x', {});
      const { writeBlob } = await import('../transport/clients/content.ts');
      const { sha } = await import('./support/util.ts');
      const config = Buffer.from('{"config":true}');
      await writeBlob(c, config, {
        ref: 'config',
        expected: sha(config),
        labels: { 'containerd.io/gc.root': 'yes', 'containerd.io/gc.ref.snapshot.overlayfs': 'sha256:chain' },
      });
      await gcNow(c);
      expect((await s.stat('sha256:chain')).kind).toBe('COMMITTED');
      await c.content.Delete({ digest: sha(config) });
      await gcNow(c);
      expect(await errorCode(s.stat('sha256:chain'))).toBe('NotFound');
    });

    it('Remove deletes the record at once and the directory soon after; Cleanup removes strays', async () => {
      const s = api(d.client('gc-rm'));
      const [m] = await s.prepare('r');
      const dir = join(m!.source, '..');
      await s.remove('r');
      expect(await errorCode(s.stat('r'))).toBe('NotFound');
      for (let i = 0; i < 100 && fs.existsSync(dir); i++) await sleep(20);
      expect(fs.existsSync(dir)).toBe(false);
      const stray = join(d.root, 'snapshots', 'overlayfs', 'snapshots', '99999');
      fs.mkdirSync(join(stray, 'fs'), { recursive: true });
      await s.cleanup();
      expect(fs.existsSync(stray)).toBe(false);
    });
  });

  it('native: copies the parent tree exactly, binds rw for active and ro for views', async () => {
    const s = api(d.client('native'), 'native');
    const [m] = await s.prepare('base');
    expect(m).toEqual({ type: 'bind', source: expect.stringMatching(/\/snapshots\/native\/snapshots\/\d+$/), target: '', options: ['rbind', 'rw'] });
    const t = target();
    await mountAll([m!], t);
    fs.mkdirSync(join(t, 'etc'), { mode: 0o750 });
    fs.chownSync(join(t, 'etc'), 42, 43);
    fs.writeFileSync(join(t, 'etc', 'secret'), 'x', { mode: 0o640 });
    fs.chownSync(join(t, 'etc', 'secret'), 1234, 5678);
    fs.writeFileSync(join(t, 'suid'), 'x');
    fs.chmodSync(join(t, 'suid'), 0o4755);
    fs.symlinkSync('etc/secret', join(t, 'link'));
    fs.lchownSync(join(t, 'link'), 7, 8);
    fs.linkSync(join(t, 'suid'), join(t, 'hard'));
    expect(spawnSync('mkfifo', ['-m', '0600', join(t, 'fifo')]).status).toBe(0);
    fs.utimesSync(join(t, 'etc', 'secret'), 1_000_000, 1_000_000);
    await unmountAll(t);
    await s.commit('base-c', 'base');

    const [c] = await s.prepare('child', 'base-c');
    expect(c!.source).not.toBe(m!.source);
    const from = m!.source;
    const to = c!.source;
    for (const p of ['etc', 'etc/secret', 'suid', 'link', 'hard', 'fifo']) {
      const a = fs.lstatSync(join(from, p));
      const b = fs.lstatSync(join(to, p));
      expect([b.mode, b.uid, b.gid], p).toEqual([a.mode, a.uid, a.gid]);
    }
    expect(fs.readlinkSync(join(to, 'link'))).toBe('etc/secret');
    expect(fs.lstatSync(join(to, 'fifo')).isFIFO()).toBe(true);
    expect(fs.statSync(join(to, 'etc', 'secret')).mtimeMs).toBe(1_000_000_000);
    expect(fs.statSync(join(to, 'hard')).ino).toBe(fs.statSync(join(to, 'suid')).ino);
    // the copy is independent of the parent
    fs.writeFileSync(join(to, 'etc', 'secret'), 'changed');
    expect(fs.readFileSync(join(from, 'etc', 'secret'), 'utf8')).toBe('x');
    expect((await s.usage('child')).inodes).toBe(6); // root, etc, secret, suid(+hard), link, fifo

    const [v] = await s.view('v', 'base-c');
    expect(v).toEqual({ type: 'bind', source: from, target: '', options: ['rbind', 'ro'] });
    const tv = target();
    await mountAll([v!], tv);
    expect(() => fs.writeFileSync(join(tv, 'x'), '')).toThrow(/EROFS/);
    await unmountAll(tv);
    expect(await errorCode(s.remove('base-c'))).toBe('FailedPrecondition');
    await s.remove('v');
    await s.remove('child');
    await s.remove('base-c');
    await s.cleanup();
    expect(snapshotDirs('native')).toEqual([]);
    // the two snapshotters keep separate key spaces
    expect(await errorCode(api(d.client('native')).stat('base-c'))).toBe('NotFound');
  });
});

describe('snapshots after berthd is killed (kill -9) and restarted', () => {
  let d: Berthd;
  beforeAll(async () => {
    d = await startBerthd();
  });
  afterAll(async () => {
    await d?.cleanup();
  });

  /** Every record has its directory, no directory lacks a record, nothing temporary is left. */
  async function consistent(sn = 'overlayfs') {
    const c = d.client('crash');
    const s = api(c, sn);
    const infos = await s.list();
    const dirs = fs.readdirSync(join(d.root, 'snapshots', sn, 'snapshots'));
    expect(
      dirs.filter((n) => !/^\d+$/.test(n)),
      'temporary directories',
    ).toEqual([]);
    expect(dirs).toHaveLength(infos.length);
    for (const i of infos) {
      if (i.kind === 'COMMITTED') continue;
      const [m] = await s.mounts(i.name);
      const own = m!.type === 'overlay' ? option(m!, 'upperdir') : m!.source;
      if (own && i.kind === 'ACTIVE') expect(fs.existsSync(own), i.name).toBe(true);
    }
    return infos.map((i) => `${i.name}:${i.kind}`);
  }

  const crash = async () => {
    await d.kill();
    await d.restart();
  };

  it('after Prepare, Commit and Remove returned', async () => {
    const s = () => api(d.client('crash'));
    await s().prepare('p');
    await crash();
    expect(await consistent()).toEqual(['p:ACTIVE']);
    await s().commit('p-c', 'p');
    await crash();
    expect(await consistent()).toEqual(['p-c:COMMITTED']);
    await s().prepare('q', 'p-c');
    await s().remove('q');
    await crash(); // before the collector had a chance to remove q's directory
    expect(await consistent()).toEqual(['p-c:COMMITTED']);
    await s().remove('p-c');
    await crash();
    expect(await consistent()).toEqual([]);
  });

  it('in the middle of many Prepares and Commits (native copies take a while)', async () => {
    const c = d.client('crash');
    const n = api(c, 'native');
    const [m] = await n.prepare('big');
    for (let i = 0; i < 300; i++) fs.writeFileSync(join(m!.source, `f${i}`), Buffer.alloc(4096 * 4, i));
    await n.commit('big-c', 'big');
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < 20; i++) {
      pending.push(n.prepare(`copy-${i}`, 'big-c').catch(() => undefined));
      pending.push(
        api(c)
          .prepare(`o-${i}`)
          .then(() => api(c).commit(`o-${i}-c`, `o-${i}`))
          .catch(() => undefined),
      );
    }
    await sleep(30);
    await d.kill();
    await Promise.all(pending);
    // the copies die with the daemon rather than write on into directories being removed
    const copying = () => spawnSync('pgrep', ['-f', `--reflink=auto -- ${join(d.root, 'snapshots', 'native')}`]).status === 0;
    for (let i = 0; i < 50 && copying(); i++) await sleep(20);
    expect(copying()).toBe(false);
    await d.restart();
    await consistent('native');
    await consistent('overlayfs');
    // and everything still works
    await n.prepare('after', 'big-c');
    await api(d.client('crash')).prepare('after');
    await consistent('native');
    await consistent('overlayfs');
  });
});
