import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { errorCode } from '../../test/support/util.ts';
import { type ContainerInput, ContainerStore } from '../containers/store.ts';
import { Exchange } from '../events/exchange.ts';
import { MetadataDB } from '../metadata/db.ts';
import { containerMounts, VolumeStore } from './store.ts';

/** A container record whose spec bind-mounts these host paths. */
const container = (id: string, sources: string[]): ContainerInput => ({
  id,
  labels: {},
  image: '',
  runtime: { name: 'io.containerd.runc.v2' },
  spec: {
    typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Spec',
    value: Buffer.from(
      JSON.stringify({ ociVersion: '1.0.2', mounts: sources.map((source, i) => ({ destination: `/m${i}`, type: 'bind', source, options: ['rbind'] })) }),
    ),
  },
  snapshotter: '',
  snapshotKey: '',
  extensions: {},
  sandbox: '',
});

describe('VolumeStore', () => {
  let dir: string;
  let db: MetadataDB;
  let containers: ContainerStore;
  let store: VolumeStore;

  beforeEach(async () => {
    dir = mkdtempSync('/tmp/berth-volumes-');
    db = await MetadataDB.open(join(dir, 'metadata'));
    containers = new ContainerStore(db, new Exchange(), async () => undefined);
    store = new VolumeStore(join(dir, 'volumes'), containerMounts(db, containers));
    await store.init();
  });
  afterEach(async () => {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates a volume as a data directory with its record beside it; a second create returns the first', async () => {
    const { volume, created } = await store.create('ns', { name: 'data', labels: { team: 'a' } });
    expect(created).toBe(true);
    expect(volume).toMatchObject({ name: 'data', labels: { team: 'a' }, anonymous: false, mountpoint: join(dir, 'volumes', 'ns', 'data', '_data') });
    expect(Math.abs(volume.createdAt - Date.now())).toBeLessThan(5000);
    expect(statSync(volume.mountpoint).mode & 0o7777).toBe(0o755);
    expect(JSON.parse(readFileSync(join(dir, 'volumes', 'ns', 'data', 'volume.json'), 'utf8'))).toEqual({
      name: 'data',
      labels: { team: 'a' },
      created_at: new Date(volume.createdAt).toISOString(),
      anonymous: false,
    });
    // as Docker: the existing volume, not an error, and its labels unchanged
    const again = await store.create('ns', { name: 'data', labels: { other: 'b' } });
    expect(again).toEqual({ volume, created: false });
    expect(await store.get('ns', 'data')).toEqual(volume);
    // namespaces are apart
    expect(await errorCode(store.get('other', 'data'))).toBe('NotFound');
    expect(readdirSync(join(dir, 'volumes', 'ns'))).toEqual(['data']);
  });

  it('names a volume made without a name with 64 hex digits, and checks names', async () => {
    const { volume } = await store.create('ns', { anonymous: true });
    expect(volume.name).toMatch(/^[0-9a-f]{64}$/);
    expect(volume.anonymous).toBe(true);
    for (const bad of ['..', '.hidden', '-x', 'a/b', 'a b', 'x'.repeat(129), '_x']) {
      expect(await errorCode(store.create('ns', { name: bad })), bad).toBe('InvalidArgument');
    }
    expect((await store.create('ns', { name: `A.b_c-${'x'.repeat(122)}` })).created).toBe(true);
    expect(await errorCode(store.get('ns', '../ns'))).toBe('InvalidArgument');
  });

  it('lists with name, label and dangling filters', async () => {
    await store.create('ns', { name: 'web-data', labels: { app: 'web', tier: 'front' } });
    await store.create('ns', { name: 'db-data', labels: { app: 'db' } });
    await store.create('ns', { name: 'cache' });
    await containers.create('ns', container('c1', [store.dataDir('ns', 'db-data')]));
    const names = async (filters: string[]) => (await store.list('ns', filters)).map((v) => v.name);
    expect(await names([])).toEqual(['cache', 'db-data', 'web-data']);
    expect(await names(['name=data'])).toEqual(['db-data', 'web-data']);
    expect(await names(['name=web', 'name=cache'])).toEqual(['cache', 'web-data']);
    expect(await names(['label=app'])).toEqual(['db-data', 'web-data']);
    expect(await names(['label=app=db'])).toEqual(['db-data']);
    expect(await names(['label=app', 'dangling=true'])).toEqual(['web-data']);
    expect(await names(['dangling=false'])).toEqual(['db-data']);
    expect(await names(['dangling=1'])).toEqual(['cache', 'web-data']);
    expect(await names(['driver=local', 'name=cache'])).toEqual(['cache']);
    expect(await names(['driver=nfs'])).toEqual([]);
    for (const bad of ['size=1', 'dangling=maybe', 'label=', 'name']) expect(await errorCode(store.list('ns', [bad])), bad).toBe('InvalidArgument');
  });

  it('refuses to remove a volume a container mounts, in any namespace; removes it once the container is gone', async () => {
    const { volume } = await store.create('ns', { name: 'data' });
    writeFileSync(join(volume.mountpoint, 'file'), 'x');
    await containers.create('ns', container('c1', ['/tmp', volume.mountpoint]));
    // a path inside the data directory, spelled oddly, counts too
    await containers.create('elsewhere', container('c2', [`${volume.mountpoint}/../_data/./file`]));
    expect(await store.usedBy('ns', 'data')).toEqual(['c1', 'elsewhere/c2']);
    const err = await store.remove('ns', 'data').catch((e) => e);
    expect(err.code).toBe('FailedPrecondition');
    expect(err.message).toContain('volume "data" is in use by container c1, container elsewhere/c2');
    await containers.delete('ns', 'c1');
    expect(await errorCode(store.remove('ns', 'data'))).toBe('FailedPrecondition');
    await containers.delete('elsewhere', 'c2');
    await store.remove('ns', 'data');
    expect(existsSync(join(dir, 'volumes', 'ns', 'data'))).toBe(false);
    expect(readdirSync(join(dir, 'volumes', 'ns'))).toEqual([]);
    expect(await errorCode(store.remove('ns', 'data'))).toBe('NotFound');
  });

  it('holds reserved volumes in use until released, making the missing ones', async () => {
    await store.create('ns', { name: 'named' });
    const r = await store.reserve('ns', [{ name: 'named' }, { name: 'new-one' }, { anonymous: true }]);
    expect(r.volumes.map((v) => v.name).slice(0, 2)).toEqual(['named', 'new-one']);
    expect(r.volumes[2]).toMatchObject({ anonymous: true });
    const err = await store.remove('ns', 'named').catch((e) => e);
    expect(err.code).toBe('FailedPrecondition');
    expect(err.message).toContain('in use by a container being created');
    expect((await store.prune('ns', { all: true })).removed).toEqual([]);
    expect((await store.list('ns', ['dangling=true'])).map((v) => v.name)).toEqual([]);
    r.release();
    r.release();
    expect((await store.prune('ns', { all: true })).removed.map((v) => v.name).sort()).toEqual(['named', 'new-one', r.volumes[2]!.name].sort());
  });

  it('prunes unused anonymous volumes, or every unused one with all, and counts the space given back', async () => {
    const anon = (await store.create('ns', { anonymous: true })).volume;
    const used = (await store.create('ns', { anonymous: true })).volume;
    await store.create('ns', { name: 'named' });
    writeFileSync(join(anon.mountpoint, 'blob'), Buffer.alloc(1024 * 1024, 1));
    await containers.create('ns', container('c1', [used.mountpoint]));
    const first = await store.prune('ns');
    expect(first.removed.map((v) => v.name)).toEqual([anon.name]);
    expect(first.reclaimed).toBe(1024 * 1024);
    const second = await store.prune('ns', { all: true });
    expect(second.removed.map((v) => v.name)).toEqual(['named']);
    expect((await store.list('ns')).map((v) => v.name)).toEqual([used.name]);
  });

  it("removes a removed container's anonymous volumes, not named ones or those another container uses", async () => {
    const anon = (await store.create('ns', { anonymous: true })).volume;
    const shared = (await store.create('ns', { anonymous: true })).volume;
    const named = (await store.create('ns', { name: 'named' })).volume;
    await containers.create('ns', container('other', [shared.mountpoint]));
    const removed = await store.removeAnonymous('ns', [anon.mountpoint, shared.mountpoint, named.mountpoint, '/tmp']);
    expect(removed).toEqual([anon.name]);
    expect((await store.list('ns')).map((v) => v.name).sort()).toEqual([shared.name, 'named'].sort());
  });

  it('removes half-made and half-removed leftovers at start, and ignores stray entries', async () => {
    await store.create('ns', { name: 'keep' });
    mkdirSync(join(dir, 'volumes', 'ns', '.creating-0123'), { recursive: true });
    mkdirSync(join(dir, 'volumes', 'ns', '.removing-gone-0123', '_data'), { recursive: true });
    mkdirSync(join(dir, 'volumes', 'ns', 'no-record'));
    writeFileSync(join(dir, 'volumes', 'ns', 'a-file'), '');
    mkdirSync(join(dir, 'volumes', 'ns', 'damaged'));
    writeFileSync(join(dir, 'volumes', 'ns', 'damaged', 'volume.json'), '{"na');
    expect((await store.list('ns')).map((v) => v.name)).toEqual(['keep']);
    const err = await store.get('ns', 'damaged').catch((e) => e);
    expect([err.code, err.message]).toEqual([
      'FailedPrecondition',
      `volume "damaged" in namespace "ns": its record ${join(dir, 'volumes', 'ns', 'damaged', 'volume.json')} is damaged`,
    ]);
    await new VolumeStore(join(dir, 'volumes'), containerMounts(db, containers)).init();
    expect(readdirSync(join(dir, 'volumes', 'ns')).sort()).toEqual(['a-file', 'damaged', 'keep', 'no-record']);
    await store.remove('ns', 'damaged');
    expect(readdirSync(join(dir, 'volumes', 'ns')).sort()).toEqual(['a-file', 'keep', 'no-record']);
  });

  it('populates a volume from the image once, one copy at a time', async () => {
    const rootfs = join(dir, 'rootfs');
    mkdirSync(join(rootfs, 'srv'), { recursive: true });
    writeFileSync(join(rootfs, 'srv', 'index.html'), 'hello');
    await store.create('ns', { name: 'www' });
    const results = await Promise.all([store.populate('ns', 'www', rootfs, '/srv'), store.populate('ns', 'www', rootfs, '/srv')]);
    // one of them copies; the other waits for it and finds the volume holding data
    expect(results.map((r) => r.reason ?? 'copied').sort()).toEqual(['copied', 'the volume already holds data']);
    expect(readFileSync(join(store.dataDir('ns', 'www'), 'index.html'), 'utf8')).toBe('hello');
  });

  it('populates volumes from a read-only mount of the rootfs layers (overlay, or a bind for the native snapshotter), not from the host', async () => {
    const base = join(dir, 'base-layer');
    const top = join(dir, 'top-layer');
    mkdirSync(join(base, 'etc'), { recursive: true });
    writeFileSync(join(base, 'etc', 'image-file'), 'image');
    mkdirSync(join(top, 'srv'), { recursive: true });
    writeFileSync(join(top, 'srv', 'index.html'), 'hello');
    // hostile: /data -> /etc and /up -> ../../../.. must stay inside the image
    symlinkSync('/etc', join(top, 'data'));
    symlinkSync('../../../../../../..', join(top, 'up'));
    await store.create('ns', { name: 'www' });
    await store.create('ns', { name: 'data' });
    await store.create('ns', { name: 'up' });
    const overlay = [{ type: 'overlay', source: 'overlay', options: [`lowerdir=${top}:${base}`] }];
    const results = await store.populateFromMounts('ns', overlay, [
      { name: 'www', path: '/srv' },
      { name: 'data', path: '/data' },
      { name: 'up', path: '/up/tmp' },
    ]);
    expect(results.map((r) => r.reason ?? 'copied')).toEqual(['copied', 'copied', 'the image has nothing at /up/tmp']);
    expect(readdirSync(store.dataDir('ns', 'www'))).toEqual(['index.html']);
    expect(readdirSync(store.dataDir('ns', 'data'))).toEqual(['image-file']);
    expect(readdirSync(store.dataDir('ns', 'up'))).toEqual([]);
    // nothing stays mounted
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(top);

    // volumes that hold data are not even looked at; a bind of a plain directory works as well
    const again = await store.populateFromMounts('ns', [{ type: 'bind', source: join(dir, 'missing'), options: ['rbind'] }], [{ name: 'www', path: '/srv' }]);
    expect(again).toEqual([{ copied: false, reason: 'the volume already holds data', skipped: [] }]);
    await store.create('ns', { name: 'native' });
    const bound = await store.populateFromMounts('ns', [{ type: 'bind', source: top, options: ['rbind'] }], [{ name: 'native', path: '/srv' }]);
    expect(bound[0]!.copied).toBe(true);
    expect(readdirSync(store.dataDir('ns', 'native'))).toEqual(['index.html']);
  });
});
