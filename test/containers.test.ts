import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Container } from '../api/gen/containerd/services/containers/v1/Container.ts';
import type { Envelope__Output } from '../api/gen/containerd/services/events/v1/Envelope.ts';
import { fromTimestamp } from '../api/timestamp.ts';
import { packAny, unpackAny } from '../core/any.ts';
import type { BerthClient } from '../transport/client.ts';
import { writeBlob } from '../transport/clients/content.ts';
import { collect } from '../transport/typed.ts';
import { grpcEvents, metadata } from './support/grpc-js.ts';
import { type Berthd, startBerthd } from './support/harness.ts';
import { errorCode, failure, sha, sleep } from './support/util.ts';

const specType = 'types.containerd.io/opencontainers/runtime-spec/1/Spec';
// deliberately not canonical JSON (spacing, key order): it must come back byte for byte
const specBytes = Buffer.from('{ "ociVersion":"1.0.2-dev",  "process":{"args":["sh"]} ,"root":{"path":"rootfs"}}\n');
const spec = { type_url: specType, value: specBytes };
const runcOptions = packAny('containerd.runc.v1.Options', { binary_name: 'runc', systemd_cgroup: true });

const container = (id: string, extra: object = {}) => ({
  id,
  labels: {},
  image: 'docker.io/library/busybox:latest',
  runtime: { name: 'io.containerd.runc.v2', options: runcOptions },
  spec,
  ...extra,
});

describe('containers service', () => {
  let d: Berthd;
  beforeAll(async () => {
    d = await startBerthd();
  });
  afterAll(async () => {
    await d?.cleanup();
  });

  const create = async (c: BerthClient, ctr: Container) => (await c.containers.Create({ container: ctr })).container!;
  const get = async (c: BerthClient, id: string) => (await c.containers.Get({ id })).container!;
  const update = async (c: BerthClient, ctr: Container, paths?: string[]) =>
    (await c.containers.Update({ container: ctr, ...(paths ? { update_mask: { paths } } : {}) })).container!;
  const list = async (c: BerthClient, filters: string[] = []) => (await c.containers.List({ filters })).containers.map((x) => x.id);
  const stream = async (c: BerthClient, filters: string[] = []) => await collect(c.containers.ListStream({ filters }));
  const remove = (c: BerthClient, id: string) => c.containers.Delete({ id });

  it('creates, gets, lists (also as a stream) and deletes containers, per namespace', async () => {
    const c = d.client('ctr-basic');
    const before = Date.now();
    const made = await create(
      c,
      container('web', { labels: { app: 'web', empty: '' }, snapshotter: 'overlayfs', snapshot_key: 'web', extensions: { ext: runcOptions } }),
    );
    expect(made).toMatchObject({
      id: 'web',
      labels: { app: 'web' },
      image: 'docker.io/library/busybox:latest',
      runtime: { name: 'io.containerd.runc.v2', options: { type_url: 'containerd.runc.v1.Options' } },
      snapshotter: 'overlayfs',
      snapshot_key: 'web',
    });
    expect(Buffer.from(made.runtime!.options!.value).equals(Buffer.from(runcOptions.value))).toBe(true);
    expect(Buffer.from(made.extensions.ext.value).equals(Buffer.from(runcOptions.value))).toBe(true);
    expect(fromTimestamp(made.created_at)).toBeGreaterThanOrEqual(before - 1000);
    expect(made.updated_at).toEqual(made.created_at);
    expect(await get(c, 'web')).toEqual(made);
    await create(c, container('db'));
    expect(await list(c)).toEqual(['db', 'web']);
    // one container per stream message, as containerd sends them
    const msgs = await stream(c);
    expect(msgs.map((m) => m.container?.id)).toEqual(['db', 'web']);
    expect(msgs[1].container).toEqual(made);
    // another namespace sees none of them
    const other = d.client('ctr-other');
    expect(await failure(get(other, 'web'))).toMatchObject({ code: 'NotFound', message: 'container "web" in namespace "ctr-other"' });
    expect(await list(other)).toEqual([]);
    expect(await stream(other)).toEqual([]);
    expect(await errorCode(remove(other, 'web'))).toBe('NotFound');
    await remove(c, 'db');
    await remove(c, 'web');
    expect(await list(c)).toEqual([]);
    expect(await errorCode(get(c, 'web'))).toBe('NotFound');
  });

  it('keeps the spec, runtime options and extensions byte for byte', async () => {
    const c = d.client('ctr-verbatim');
    // bytes that are not even valid JSON or protobuf: the daemon must not look inside
    const odd = { type_url: 'example.com/odd', value: Buffer.from([0, 255, 1, 254, 0x7b]) };
    const made = await create(c, container('v', { spec: odd, runtime: { name: 'rt', options: odd }, extensions: { 'a.b/c': odd } }));
    for (const any of [made.spec!, made.runtime!.options!, made.extensions['a.b/c']]) {
      expect(any.type_url).toBe('example.com/odd');
      expect(Buffer.from(any.value).equals(odd.value)).toBe(true);
    }
    await update(c, { id: 'v', spec }, ['spec']);
    const got = await get(c, 'v');
    expect(got.spec!.type_url).toBe(specType);
    expect(Buffer.from(got.spec!.value).equals(specBytes)).toBe(true);
    expect(JSON.parse(Buffer.from(got.spec!.value).toString()).process.args).toEqual(['sh']);
    await remove(c, 'v');
  });

  it('rejects what containerd rejects, with the same codes and messages', async () => {
    const c = d.client('ctr-errors');
    const bad: Array<[object, string]> = [
      [container(''), 'create container failed validation: container.ID: identifier must not be empty'],
      [container('a/b'), 'create container failed validation: container.ID: identifier "a/b" must match ^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$'],
      [
        container('x'.repeat(77)),
        `create container failed validation: container.ID: identifier "${'x'.repeat(77)}" greater than maximum length (76 characters)`,
      ],
      [container('x', { runtime: { name: '' } }), 'create container failed validation: container.Runtime.Name must be set'],
      [container('x', { runtime: null }), 'create container failed validation: container.Runtime.Name must be set'],
      [container('x', { spec: null }), 'create container failed validation: container.Spec must be set'],
      [container('x', { snapshot_key: 'k' }), 'create container failed validation: container.Snapshotter must be set if container.SnapshotKey is set'],
      [container('x', { extensions: { '': spec } }), 'create container failed validation: container.Extension keys must not be zero-length'],
      [
        container('x', { labels: { 'long-label-key': 'v'.repeat(4096) } }),
        'create container failed validation: containers.Labels: label key and value greater than maximum size (4096 bytes), key: long-label',
      ],
    ];
    for (const [ctr, message] of bad) expect(await failure(create(c, ctr)), message).toMatchObject({ code: 'InvalidArgument', message });
    expect(await failure(c.containers.Create({}))).toMatchObject({
      code: 'InvalidArgument',
      message: 'create container failed validation: container.ID: identifier must not be empty',
    });
    // nothing was created by the failures, not even the namespace
    expect(await list(c)).toEqual([]);

    await create(c, container('dup'));
    expect(await failure(create(c, container('dup')))).toMatchObject({ code: 'AlreadyExists', message: 'container "dup"' });
    expect(await failure(get(c, 'nope'))).toMatchObject({ code: 'NotFound', message: 'container "nope" in namespace "ctr-errors"' });
    expect(await failure(remove(c, 'nope'))).toMatchObject({ code: 'NotFound', message: 'container nope' });
    expect(await failure(update(c, container('nope'), ['labels']))).toMatchObject({ code: 'NotFound', message: 'container "nope"' });
    const fresh = d.client('ctr-errors-empty');
    expect(await failure(remove(fresh, 'nope'))).toMatchObject({ code: 'NotFound', message: 'cannot delete container "nope" in namespace "ctr-errors-empty"' });
    expect(await failure(update(fresh, container('nope'), ['labels']))).toMatchObject({
      code: 'NotFound',
      message: 'cannot update container "nope" in namespace "ctr-errors-empty"',
    });
    // the missing-id error is a bare status in containerd, without ": invalid argument"
    expect(await failure(update(c, { id: '' }, ['labels']))).toMatchObject({ code: 'InvalidArgument', message: 'Container.ID required' });
    expect(await failure(get(c, 'a/b'))).toMatchObject({ code: 'NotFound' });
    // containerd adds the class to the parse error's message a second time
    expect(await failure(list(c, ['id==']))).toMatchObject({
      code: 'InvalidArgument',
      message: 'filters: parse error: [id==]: expected value or quoted: invalid argument',
    });
    const noNs = d.client('bad/ns');
    expect(await errorCode(list(noNs))).toBe('InvalidArgument');
    await remove(c, 'dup');
  });

  it('updates by field mask, and replaces every mutable field with no mask', async () => {
    const c = d.client('ctr-update');
    const made = await create(c, container('u', { labels: { a: '1', b: '2' }, snapshotter: 'overlayfs', snapshot_key: 'u', extensions: { e1: runcOptions } }));
    await sleep(5);
    let got = await update(c, { id: 'u', labels: { a: 'one', c: '3' } }, ['labels.a', 'labels.b']);
    expect(got.labels).toEqual({ a: 'one' });
    expect(fromTimestamp(got.created_at)).toBe(fromTimestamp(made.created_at));
    expect(fromTimestamp(got.updated_at)).toBeGreaterThan(fromTimestamp(made.updated_at)!);
    // a key containing dots: everything after the first `labels.`
    got = await update(c, { id: 'u', labels: { 'io.example/x.y': 'z' } }, ['labels.io.example/x.y']);
    expect(got.labels).toEqual({ a: 'one', 'io.example/x.y': 'z' });
    got = await update(c, { id: 'u', labels: { only: 'this', gone: '' } }, ['labels']);
    expect(got.labels).toEqual({ only: 'this' });
    got = await update(c, { id: 'u', image: 'other:1', snapshot_key: 'u2' }, ['image', 'snapshotkey']);
    expect([got.image, got.snapshot_key, got.snapshotter, got.runtime!.name]).toEqual(['other:1', 'u2', 'overlayfs', 'io.containerd.runc.v2']);
    got = await update(c, { id: 'u', extensions: { e2: spec } }, ['extensions.e2', 'extensions.e1']);
    expect(Object.keys(got.extensions)).toEqual(['e2']);
    got = await update(c, { id: 'u', extensions: { e3: spec } }, ['extensions']);
    expect(Object.keys(got.extensions)).toEqual(['e3']);
    // the spec cannot be removed
    expect(await failure(update(c, { id: 'u', spec: null }, ['spec']))).toMatchObject({
      code: 'InvalidArgument',
      message: 'update failed validation: container.Spec must be set',
    });

    for (const path of ['runtime.name', 'runtime', 'snapshotter', 'id', 'created_at', 'sandbox']) {
      expect(await failure(update(c, container('u', { runtime: { name: 'other' } }), [path])), path).toMatchObject({
        code: 'InvalidArgument',
        message: `cannot update "${path}" field on "u"`,
      });
    }
    // no mask: labels, spec, extensions, image and snapshot key are all replaced...
    got = await update(c, container('u', { labels: { fresh: 'yes' }, image: '', snapshotter: 'overlayfs', snapshot_key: '' }));
    expect(got).toMatchObject({ labels: { fresh: 'yes' }, image: '', snapshotter: 'overlayfs', snapshot_key: '', extensions: {} });
    // ...but the snapshotter and the runtime name must not change
    expect(await failure(update(c, container('u', { snapshotter: 'native' })))).toMatchObject({
      code: 'InvalidArgument',
      message: 'container.Snapshotter field is immutable',
    });
    expect(await failure(update(c, container('u', { snapshotter: 'overlayfs', runtime: { name: 'io.other' } })))).toMatchObject({
      code: 'InvalidArgument',
      message: 'container.Runtime.Name field is immutable',
    });
    // the runtime's options stay what they were
    expect(Buffer.from((await get(c, 'u')).runtime!.options!.value).equals(Buffer.from(runcOptions.value))).toBe(true);
    await remove(c, 'u');
  });

  it('filters on id, image, runtime.name and labels, with containerd syntax', async () => {
    const c = d.client('ctr-filters');
    await create(c, container('a1', { labels: { team: 'a', 'io.x/tier': 'front' } }));
    await create(c, container('a2', { labels: { team: 'a' }, image: 'docker.io/library/alpine:3' }));
    await create(c, container('b1', { labels: { team: 'b' }, runtime: { name: 'io.containerd.kata.v2' } }));
    await create(c, container('noimage', { image: '' }));
    const cases: Array<[string[], string[]]> = [
      [[], ['a1', 'a2', 'b1', 'noimage']],
      [[''], ['a1', 'a2', 'b1', 'noimage']],
      [['id==a1'], ['a1']],
      [['id~=^a'], ['a1', 'a2']],
      [['id!=a1'], ['a2', 'b1', 'noimage']],
      [['labels.team==a'], ['a1', 'a2']],
      [
        ['labels.team==a', 'labels.team==b'],
        ['a1', 'a2', 'b1'],
      ],
      [['labels.team==a,image~=alpine'], ['a2']],
      [['labels."io.x/tier"==front'], ['a1']],
      [['labels.team'], ['a1', 'a2', 'b1']],
      [['image'], ['a1', 'a2', 'b1']],
      [['image==docker.io/library/busybox:latest'], ['a1', 'b1']],
      [['runtime.name==io.containerd.kata.v2'], ['b1']],
      [['runtime.name~=runc'], ['a1', 'a2', 'noimage']],
      [['runtime'], []],
      [['nope==x'], []],
    ];
    for (const [filters, want] of cases) {
      expect(await list(c, filters), filters.join(' | ')).toEqual(want);
      expect(
        (await stream(c, filters)).map((m) => m.container?.id),
        filters.join(' | '),
      ).toEqual(want);
    }
    expect(await failure(stream(c, ['labels.team=='])).then((e) => e.code)).toBe('InvalidArgument');
    for (const id of await list(c)) await remove(c, id);
  });

  it('publishes /containers/create, /containers/update and /containers/delete once each', async () => {
    const sub = d.client();
    const got: Envelope__Output[] = [];
    const call = grpcEvents(sub).Subscribe({ filters: ['topic~="^/containers/"'] }, metadata(sub));
    call.on('data', (e: Envelope__Output) => got.push(e));
    call.on('error', () => undefined);
    await sleep(50);
    const c = d.client('ctr-events');
    await create(c, container('e', { labels: { a: '1' }, snapshotter: 'overlayfs', snapshot_key: 'e' }));
    await errorCode(create(c, container('e'))); // fails: no event
    await update(c, { id: 'e', labels: { a: '2' } }, ['labels.a']);
    await errorCode(update(c, { id: 'e' }, ['runtime.name']));
    await remove(c, 'e');
    await errorCode(remove(c, 'e'));
    await sleep(100);
    call.cancel();
    expect(got.map((e) => `${e.namespace} ${e.topic} ${e.event!.type_url}`)).toEqual([
      'ctr-events /containers/create containerd.events.ContainerCreate',
      'ctr-events /containers/update containerd.events.ContainerUpdate',
      'ctr-events /containers/delete containerd.events.ContainerDelete',
    ]);
    const [created, updated, deleted] = got.map((e) => unpackAny(e.event!).message);
    expect(created).toMatchObject({
      id: 'e',
      image: 'docker.io/library/busybox:latest',
      runtime: { name: 'io.containerd.runc.v2', options: { type_url: 'containerd.runc.v1.Options' } },
    });
    expect(Buffer.from((created.runtime as { options: { value: Buffer } }).options.value).equals(Buffer.from(runcOptions.value))).toBe(true);
    expect(updated).toEqual({ id: 'e', image: 'docker.io/library/busybox:latest', labels: { a: '2' }, snapshot_key: 'e' });
    expect(deleted).toEqual({ id: 'e' });
  });

  it('a namespace that holds containers cannot be deleted', async () => {
    const c = d.client('ctr-ns');
    await create(c, container('keep'));
    expect(await failure(c.namespaces.Delete({ name: 'ctr-ns' }))).toMatchObject({
      code: 'FailedPrecondition',
      message: 'namespace "ctr-ns" must be empty, but it still has containers',
    });
    await remove(c, 'keep');
    await c.namespaces.Delete({ name: 'ctr-ns' });
  });

  describe('garbage collection', () => {
    const gcNow = async (ns: string) => {
      const c = d.client(ns);
      await c.leases.Create({ id: 'gc-trigger' });
      await c.leases.Delete({ id: 'gc-trigger', sync: true });
    };
    const snapshots = async (c: BerthClient, snapshotter = 'overlayfs') =>
      (await collect(c.snapshots.List({ snapshotter, filters: [] }))).flatMap((m) => m.info.map((i) => i.name)).sort();
    const present = async (c: BerthClient, digest: string) => (await errorCode(c.content.Info({ digest }))) === 'no error';

    it('a container keeps its snapshot, and the blobs and snapshots its gc.ref labels name', async () => {
      const ns = 'ctr-gc';
      const c = d.client(ns);
      await c.leases.Create({ id: 'setup' });
      const leased = d.client(ns, 'setup');
      for (const [sn, key] of [
        ['overlayfs', 'rootfs-1'],
        ['overlayfs', 'by-label'],
        ['native', 'native-rootfs'],
        ['overlayfs', 'unreferenced'],
      ]) {
        await leased.snapshots.Prepare({ snapshotter: sn, key, parent: '', labels: {} });
      }
      const blob = Buffer.from('kept by a container label');
      const loose = Buffer.from('kept by nothing');
      await writeBlob(leased, blob, { ref: 'b1', expected: sha(blob) });
      await writeBlob(leased, loose, { ref: 'b2', expected: sha(loose) });
      await create(
        c,
        container('one', {
          snapshotter: 'overlayfs',
          snapshot_key: 'rootfs-1',
          labels: { 'containerd.io/gc.ref.content.x': sha(blob), 'containerd.io/gc.ref.snapshot.overlayfs': 'by-label' },
        }),
      );
      await create(c, container('two', { snapshotter: 'native', snapshot_key: 'native-rootfs' }));
      await c.leases.Delete({ id: 'setup', sync: true });
      expect(await snapshots(c)).toEqual(['by-label', 'rootfs-1']);
      expect(await snapshots(c, 'native')).toEqual(['native-rootfs']);
      expect(await present(c, sha(blob))).toBe(true);
      expect(await present(c, sha(loose))).toBe(false);

      // a restart keeps it all: the records are on disk, and the collector's first run sees them
      await d.stop();
      await d.restart();
      await gcNow(ns);
      expect(await snapshots(c)).toEqual(['by-label', 'rootfs-1']);
      expect(await present(c, sha(blob))).toBe(true);

      await remove(c, 'one');
      await gcNow(ns);
      expect(await snapshots(c)).toEqual([]);
      expect(await present(c, sha(blob))).toBe(false);
      expect(await snapshots(c, 'native')).toEqual(['native-rootfs']);
      await remove(c, 'two');
      await gcNow(ns);
      expect(await snapshots(c, 'native')).toEqual([]);
    });

    it('a container keeps the image it names, and that image keeps its target', async () => {
      const ns = 'ctr-gc-image';
      const c = d.client(ns);
      const manifest = Buffer.from('{"schemaVersion":2}');
      await c.leases.Create({ id: 'pull' });
      await writeBlob(d.client(ns, 'pull'), manifest, { ref: 'm', expected: sha(manifest) });
      await c.images.Create({
        image: { name: 'app:1', target: { media_type: 'application/vnd.oci.image.manifest.v1+json', digest: sha(manifest), size: manifest.length } },
      });
      await create(c, container('uses-image', { image: 'app:1' }));
      await c.leases.Delete({ id: 'pull', sync: true });
      expect(await present(c, sha(manifest))).toBe(true);
      await remove(c, 'uses-image');
      await c.images.Delete({ name: 'app:1', sync: true });
      expect(await present(c, sha(manifest))).toBe(false);
    });
  });
});
