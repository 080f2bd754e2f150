import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope__Output } from '../api/gen/containerd/services/events/v1/Envelope.ts';
import type { Image } from '../api/gen/containerd/services/images/v1/Image.ts';
import { fromTimestamp } from '../api/timestamp.ts';
import { unpackAny } from '../core/any.ts';
import { formatPlatform, hostPlatform } from '../core/platform.ts';
import { formatSize } from '../ctl/output.ts';
import type { BerthClient } from '../transport/client.ts';
import { writeBlob } from '../transport/clients/content.ts';
import { grpcEvents, metadata } from './support/grpc-js.ts';
import { type Berthd, startBerthd } from './support/harness.ts';
import { buildImage, type TestImage, wireDescriptor } from './support/image-fixture.ts';
import { errorCode, failure, sha, sleep } from './support/util.ts';

describe('images service', () => {
  let d: Berthd;
  beforeAll(async () => {
    d = await startBerthd();
  });
  afterAll(async () => {
    await d?.cleanup();
  });

  const target = (seed: string, mediaType = 'application/vnd.oci.image.manifest.v1+json') => ({
    media_type: mediaType,
    digest: sha(seed),
    size: 100,
    annotations: {},
  });
  const create = async (c: BerthClient, image: Image) => (await c.images.Create({ image })).image!;
  const get = async (c: BerthClient, name: string) => (await c.images.Get({ name })).image!;
  const update = async (c: BerthClient, image: Image, paths?: string[]) =>
    (await c.images.Update({ image, ...(paths ? { update_mask: { paths } } : {}) })).image!;
  const list = async (c: BerthClient, filters: string[] = []) => (await c.images.List({ filters })).images.map((i) => i.name).sort();
  const remove = (c: BerthClient, name: string, sync = false) => c.images.Delete({ name, sync });

  it('creates, gets, lists and deletes images, per namespace', async () => {
    const c = d.client('img-basic');
    const before = Date.now();
    const made = await create(c, { name: 'docker.io/library/a:1', labels: { team: 'a' }, target: { ...target('a'), annotations: { k: 'v' } } });
    expect(made).toMatchObject({ name: 'docker.io/library/a:1', labels: { team: 'a' }, target: { digest: sha('a'), size: 100, annotations: { k: 'v' } } });
    expect(fromTimestamp(made.created_at)).toBeGreaterThanOrEqual(before - 1000);
    expect(made.updated_at).toEqual(made.created_at);
    expect(await get(c, 'docker.io/library/a:1')).toEqual(made);
    await create(c, { name: 'b', target: target('b') });
    expect(await list(c)).toEqual(['b', 'docker.io/library/a:1']);
    // another namespace sees none of them
    const other = d.client('img-other');
    expect(await errorCode(get(other, 'b'))).toBe('NotFound');
    expect(await list(other)).toEqual([]);
    await remove(c, 'b');
    expect(await list(c)).toEqual(['docker.io/library/a:1']);
    await remove(c, 'docker.io/library/a:1');
    expect(await list(c)).toEqual([]);
  });

  it('rejects what containerd rejects, with the same codes and messages', async () => {
    const c = d.client('img-errors');
    const bad: Array<[string, object]> = [
      ['empty name', { name: '', target: target('x') }],
      ['bad digest', { name: 'x', target: { ...target('x'), digest: 'sha256:abc' } }],
      ['no digest', { name: 'x', target: { ...target('x'), digest: '' } }],
      ['zero size', { name: 'x', target: { ...target('x'), size: 0 } }],
      ['negative size', { name: 'x', target: { ...target('x'), size: -1 } }],
      ['no media type', { name: 'x', target: { ...target('x'), media_type: '' } }],
      ['no target', { name: 'x' }],
      ['label too big', { name: 'x', labels: { big: 'v'.repeat(5000) }, target: target('x') }],
    ];
    for (const [what, image] of bad) expect(await errorCode(create(c, image)), what).toBe('InvalidArgument');
    expect((await failure(create(c, { name: 'x', target: { ...target('x'), size: 0 } }))).message).toBe('Target.Size must be greater than zero');
    expect((await failure(create(c, { name: 'x', target: { ...target('x'), media_type: '' } }))).message).toBe('Target.MediaType must be set');
    await create(c, { name: 'x', target: target('x') });
    const dup = await failure(create(c, { name: 'x', target: target('y') }));
    expect([dup.code, dup.message]).toEqual(['AlreadyExists', 'image "x"']);
    const missing = await failure(get(c, 'nope'));
    expect([missing.code, missing.message]).toEqual(['NotFound', 'image "nope"']);
    expect(await errorCode(remove(c, 'nope'))).toBe('NotFound');
    expect(await errorCode(update(c, { name: 'nope', target: target('x') }))).toBe('NotFound');
    expect(await errorCode(update(c, { name: '', target: target('x') }))).toBe('InvalidArgument');
    const path = await failure(update(c, { name: 'x', target: target('x') }, ['name']));
    expect([path.code, path.message]).toEqual(['InvalidArgument', 'cannot update "name" field on image "x"']);
    expect(await errorCode(update(c, { name: 'x', target: { ...target('x'), size: 0 } }, ['target']))).toBe('InvalidArgument');
    expect(await errorCode(list(c, ['name==']))).toBe('InvalidArgument');
    // nothing changed by the failures
    expect((await get(c, 'x')).target?.digest).toBe(sha('x'));
    await remove(c, 'x');
  });

  it('updates by field mask: labels, labels.*, target, annotations, annotations.*; no mask replaces labels and target', async () => {
    const c = d.client('img-update');
    const made = await create(c, { name: 'u', labels: { a: '1', b: '2' }, target: { ...target('u1'), annotations: { x: '1', y: '2' } } });
    await sleep(5);
    let u = await update(c, { name: 'u', labels: { a: '10', c: '3' } }, ['labels.a', 'labels.b', 'labels.c']);
    expect(u.labels).toEqual({ a: '10', c: '3' });
    expect(u.target?.digest).toBe(sha('u1'));
    expect(u.created_at).toEqual(made.created_at);
    expect(fromTimestamp(u.updated_at)!).toBeGreaterThan(fromTimestamp(made.updated_at)!);
    u = await update(c, { name: 'u', labels: { only: 'me' } }, ['labels']);
    expect(u.labels).toEqual({ only: 'me' });
    u = await update(c, { name: 'u', target: { ...target('ignored'), annotations: { y: '20', z: '3' } } }, ['annotations.y', 'annotations.x', 'annotations.z']);
    expect(u.target).toMatchObject({ digest: sha('u1'), annotations: { y: '20', z: '3' } });
    u = await update(c, { name: 'u', target: { ...target('ignored'), annotations: { w: '1' } } }, ['annotations']);
    expect(u.target?.annotations).toEqual({ w: '1' });
    u = await update(c, { name: 'u', target: target('u2', 'application/vnd.oci.image.index.v1+json') }, ['target']);
    expect(u.target).toMatchObject({ digest: sha('u2'), media_type: 'application/vnd.oci.image.index.v1+json', annotations: {} });
    expect(u.labels).toEqual({ only: 'me' });
    u = await update(c, { name: 'u', labels: { fresh: 'yes' }, target: target('u3') });
    expect(u).toMatchObject({ labels: { fresh: 'yes' }, target: { digest: sha('u3') } });
    expect(u.created_at).toEqual(made.created_at);
    expect(await get(c, 'u')).toEqual(u);
    await remove(c, 'u');
  });

  it('filters on name, target.digest, target.mediatype, labels and annotations', async () => {
    const c = d.client('img-filters');
    const index = 'application/vnd.oci.image.index.v1+json';
    await create(c, { name: 'docker.io/library/busybox:1', labels: { team: 'a', 'containerd.io/gc.root': 'x' }, target: target('f1', index) });
    await create(c, {
      name: 'docker.io/library/busybox:2',
      labels: { team: 'b' },
      target: { ...target('f2'), annotations: { 'org.opencontainers.image.ref.name': '2' } },
    });
    await create(c, { name: 'example.com/app', target: target('f3') });
    const cases: Array<[string[], string[]]> = [
      [[], ['docker.io/library/busybox:1', 'docker.io/library/busybox:2', 'example.com/app']],
      [[''], ['docker.io/library/busybox:1', 'docker.io/library/busybox:2', 'example.com/app']],
      [['name==example.com/app'], ['example.com/app']],
      [['name~=busybox'], ['docker.io/library/busybox:1', 'docker.io/library/busybox:2']],
      [['name!=example.com/app'], ['docker.io/library/busybox:1', 'docker.io/library/busybox:2']],
      [[`target.digest==${sha('f2')}`], ['docker.io/library/busybox:2']],
      [[`target.mediatype==${index}`], ['docker.io/library/busybox:1']],
      [['labels.team==a'], ['docker.io/library/busybox:1']],
      [['labels.team'], ['docker.io/library/busybox:1', 'docker.io/library/busybox:2']],
      [['labels."containerd.io/gc.root"'], ['docker.io/library/busybox:1']],
      [['annotations."org.opencontainers.image.ref.name"==2'], ['docker.io/library/busybox:2']],
      [
        ['labels.team==a', 'name==example.com/app'],
        ['docker.io/library/busybox:1', 'example.com/app'],
      ],
      [['name~=busybox,labels.team==b'], ['docker.io/library/busybox:2']],
      [['labels.nope'], []],
    ];
    for (const [filters, want] of cases) expect(await list(c, filters), filters.join(' | ')).toEqual(want);
    for (const name of await list(c)) await remove(c, name);
  });

  it('publishes /images/create, /images/update and /images/delete once each', async () => {
    const sub = d.client();
    const got: Envelope__Output[] = [];
    const call: grpc.ClientReadableStream<Envelope__Output> = grpcEvents(sub).Subscribe({ filters: ['topic~="^/images/"'] }, metadata(sub));
    call.on('data', (e) => got.push(e));
    call.on('error', () => undefined);
    await sleep(50);
    const c = d.client('img-events');
    await create(c, { name: 'e', labels: { a: '1' }, target: target('e') });
    await errorCode(create(c, { name: 'e', target: target('e') })); // fails: no event
    await update(c, { name: 'e', labels: { a: '2' } }, ['labels.a']);
    await remove(c, 'e');
    await errorCode(remove(c, 'e'));
    await sleep(100);
    call.cancel();
    expect(got.map((e) => `${e.namespace} ${e.topic} ${e.event?.type_url}`)).toEqual([
      'img-events /images/create containerd.services.images.v1.ImageCreate',
      'img-events /images/update containerd.services.images.v1.ImageUpdate',
      'img-events /images/delete containerd.services.images.v1.ImageDelete',
    ]);
    expect(got.map((e) => unpackAny(e.event!).message)).toEqual([{ name: 'e', labels: { a: '1' } }, { name: 'e', labels: { a: '2' } }, { name: 'e' }]);
  });

  describe('garbage collection', () => {
    const blobFile = (digest: string) => join(d.root, 'content', 'blobs', 'sha256', digest.slice(7));
    const present = async (c: BerthClient, digest: string) => (await errorCode(c.content.Info({ digest }))) === 'no error';

    /** Writes an image's blobs under a lease, as a pull does, and names it; the lease then goes. */
    const pull = async (ns: string, name: string, img: TestImage, extra: Buffer[] = []) => {
      const c = d.client(ns);
      const lease = `pull-${name}`;
      await c.leases.Create({ id: lease });
      const w = d.client(ns, lease);
      for (const b of img.blobs) await writeBlob(w, b.bytes, { ref: b.desc.digest, expected: b.desc.digest, labels: b.labels });
      for (const b of extra) await writeBlob(w, b, { ref: sha(b), expected: sha(b) });
      await create(w, { name, target: wireDescriptor(img.target) });
      await c.leases.Delete({ id: lease, sync: true });
    };

    it('an image keeps its whole tree; deleting it with sync lets the collector take the tree', async () => {
      const c = d.client('img-gc');
      const img = buildImage('gc-1');
      const stray = Buffer.from('held by nothing');
      await pull('img-gc', 'one', img, [stray]);
      for (const b of img.blobs) expect(await present(c, b.desc.digest), b.desc.mediaType).toBe(true);
      expect(await present(c, sha(stray))).toBe(false);
      await remove(c, 'one', true);
      for (const b of img.blobs) {
        expect(await present(c, b.desc.digest), b.desc.mediaType).toBe(false);
        expect(existsSync(blobFile(b.desc.digest))).toBe(false);
      }
    });

    it('a second image on the same target keeps the tree until it goes too', async () => {
      const c = d.client('img-gc2');
      const img = buildImage('gc-2');
      await pull('img-gc2', 'first', img);
      await create(c, { name: 'second', target: wireDescriptor(img.target) });
      await remove(c, 'first', true);
      for (const b of img.blobs) expect(await present(c, b.desc.digest)).toBe(true);
      await remove(c, 'second', true);
      for (const b of img.blobs) expect(await present(c, b.desc.digest)).toBe(false);
    });

    it("an image's own gc.ref labels keep content too", async () => {
      const c = d.client('img-gc3');
      const img = buildImage('gc-3');
      const extra = Buffer.from('kept by a label on the image');
      await c.leases.Create({ id: 'l' });
      const w = d.client('img-gc3', 'l');
      await writeBlob(w, img.manifest.bytes, { ref: 'm', expected: img.manifest.desc.digest });
      await writeBlob(w, extra, { ref: 'x', expected: sha(extra) });
      await create(w, { name: 'labelled', labels: { 'containerd.io/gc.ref.content.extra': sha(extra) }, target: wireDescriptor(img.manifest.desc) });
      await c.leases.Delete({ id: 'l', sync: true });
      expect(await present(c, sha(extra))).toBe(true);
      expect(await present(c, img.manifest.desc.digest)).toBe(true);
      await update(c, { name: 'labelled', labels: {} }, ['labels']);
      await remove(c, 'labelled', true);
      expect(await present(c, sha(extra))).toBe(false);
    });

    it('images survive a restart of berthd, and still hold their content', async () => {
      const c0 = d.client('img-restart');
      const img = buildImage('restart');
      await pull('img-restart', 'kept', img);
      const before = await get(c0, 'kept');
      await d.stop();
      await d.restart();
      const c = d.client('img-restart');
      expect(await get(c, 'kept')).toEqual(before);
      await sleep(300); // the collection berthd runs at start-up
      for (const b of img.blobs) expect(await present(c, b.desc.digest)).toBe(true);
      await remove(c, 'kept', true);
    });
  });

  describe('berth images', () => {
    const ns = ['-n', 'img-cli'];
    const berth = (args: string[]) => d.berth([...ns, ...args]);
    let img: TestImage;
    beforeAll(async () => {
      img = buildImage('cli');
      const c = d.client('img-cli');
      await c.leases.Create({ id: 'cli' });
      const w = d.client('img-cli', 'cli');
      for (const b of img.blobs) await writeBlob(w, b.bytes, { ref: b.desc.digest, expected: b.desc.digest, labels: b.labels });
      await create(w, { name: 'example.com/cli:1', labels: { team: 'a' }, target: wireDescriptor(img.target) });
      // a manifest-only image whose config and layer are missing
      await create(w, {
        name: 'example.com/partial',
        target: wireDescriptor({ ...img.config.desc, digest: sha('no such manifest'), mediaType: img.manifest.desc.mediaType }),
      });
      await c.leases.Delete({ id: 'cli' });
    });

    const treeSize = () => img.index.desc.size + img.manifest.desc.size + img.config.desc.size + img.layer.desc.size;

    it('ls: ref, type, digest, size, platforms and labels; -q; --format json; filters', () => {
      const r = berth(['images', 'ls']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const lines = r.stdout.trim().split('\n');
      expect(lines[0]).toMatch(/^REF\s+TYPE\s+DIGEST\s+SIZE\s+PLATFORMS\s+LABELS$/);
      const platforms = [formatPlatform(hostPlatform), formatPlatform(img.otherPlatform)].sort().join(',');
      expect(lines[1]!.split(/\s{3,}/)).toEqual(['example.com/cli:1', img.target.mediaType, img.target.digest, formatSize(treeSize()), platforms, 'team=a']);
      expect(lines[2]!.split(/\s{3,}/)).toEqual(['example.com/partial', img.manifest.desc.mediaType, sha('no such manifest'), '-', '-', '-']);
      expect(berth(['images', 'ls', '-q']).stdout).toBe('example.com/cli:1\nexample.com/partial\n');
      expect(berth(['i', 'ls', '-q', 'labels.team==a']).stdout).toBe('example.com/cli:1\n');
      const json = JSON.parse(berth(['images', 'ls', '--format', 'json', 'name==example.com/cli:1']).stdout);
      expect(json).toEqual([
        expect.objectContaining({
          name: 'example.com/cli:1',
          size: treeSize(),
          platforms: platforms.split(','),
          labels: { team: 'a' },
          target: { mediaType: img.target.mediaType, digest: img.target.digest, size: img.target.size },
        }),
      ]);
      const bad = berth(['images', 'ls', 'name==']);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/^berth: .*invalid argument\n$/);
    });

    it('check, inspect and usage: which blobs are present and required, whether and where it is unpacked', async () => {
      const r = berth(['images', 'check']);
      expect(r.code).toBe(0);
      const rows = r.stdout
        .trim()
        .split('\n')
        .map((l) => l.split(/\s{3,}/));
      expect(rows[0]).toEqual(['REF', 'TYPE', 'DIGEST', 'STATUS', 'SIZE', 'UNPACKED']);
      const required = img.config.desc.size + img.layer.desc.size;
      expect(rows[1]).toEqual([
        'example.com/cli:1',
        img.target.mediaType,
        img.target.digest,
        'complete (2/2)',
        `${formatSize(required)}/${formatSize(required)}`,
        'false',
      ]);
      expect(rows[2]!.slice(3)).toEqual(['unavailable (0/?)', '0 B/?', 'false']);
      expect(berth(['images', 'check', '-q']).stdout).toBe('example.com/cli:1\n');
      const info = JSON.parse(berth(['images', 'inspect', '--format', 'json', 'example.com/cli:1']).stdout);
      expect(info).toMatchObject({ name: 'example.com/cli:1', labels: { team: 'a' }, available: true, complete: true, unpacked: false });
      expect(info.blobs.map((b: { digest: string; present: boolean }) => [b.digest, b.present])).toEqual(
        [img.index, img.manifest, img.config, img.layer].map((b) => [b.desc.digest, true]),
      );
      const text = berth(['images', 'inspect', 'example.com/cli:1']);
      expect(text.code).toBe(0);
      expect(text.stdout).toMatch(/^Name:\s+example\.com\/cli:1\n/);
      expect(text.stdout).toContain('Complete:  true (2/2 blobs present)');
      const partial = JSON.parse(berth(['images', 'inspect', '--format', 'json', 'example.com/partial']).stdout);
      expect(partial).toMatchObject({ available: false, complete: false, blobs: [{ digest: sha('no such manifest'), present: false }] });
      // a committed snapshot named by the chain ID (one layer: its diff ID) makes it unpacked
      const c = d.client('img-cli');
      await c.snapshots.Prepare({ snapshotter: 'overlayfs', key: 'unpack', parent: '' });
      await c.snapshots.Commit({ snapshotter: 'overlayfs', name: img.diffId, key: 'unpack' });
      expect(JSON.parse(berth(['images', 'inspect', '--format', 'json', 'example.com/cli:1']).stdout).unpacked).toBe(true);
      expect(berth(['images', 'check', 'name==example.com/cli:1']).stdout).toMatch(/complete \(2\/2\)\s+\S+ \S+\/\S+ \S+\s+true\n$/);
      const usage = berth(['images', 'usage', '--format', 'json', 'example.com/cli:1']);
      expect(JSON.parse(usage.stdout)).toEqual({
        name: 'example.com/cli:1',
        snapshotter: 'overlayfs',
        layers: [{ chain_id: img.diffId, diff_id: img.diffId, unpacked: true, size: expect.any(Number), inodes: expect.any(Number) }],
        total: expect.any(Number),
      });
      const usageText = berth(['images', 'usage', '-b', 'example.com/cli:1']);
      expect(usageText.stdout).toMatch(new RegExp(`^CHAIN ID\\s+SIZE\\s+INODES\n${img.diffId}\\s+\\d+\\s+\\d+\ntotal\\s+\\d+\n$`));
      await c.snapshots.Remove({ snapshotter: 'overlayfs', key: img.diffId });
      const notUnpacked = berth(['images', 'usage', 'example.com/cli:1']);
      expect(notUnpacked).toMatchObject({ code: 0, stderr: 'berth: example.com/cli:1 is not fully unpacked in overlayfs\n' });
      expect(notUnpacked.stdout).toContain(`${img.diffId}   -      -`);
      expect(berth(['images', 'usage', 'example.com/partial']).code).toBe(1);
      const missing = berth(['images', 'inspect', 'nope']);
      expect([missing.code, missing.stderr]).toEqual([1, 'berth: image "nope": not found\n']);
    });

    it('tag (with --force) and rm (with --sync)', async () => {
      expect(berth(['images', 'tag', 'example.com/cli:1', 'example.com/cli:2', 'example.com/cli:3'])).toMatchObject({
        code: 0,
        stdout: 'example.com/cli:2\nexample.com/cli:3\n',
      });
      const again = berth(['images', 'tag', 'example.com/cli:1', 'example.com/cli:2']);
      expect([again.code, again.stderr]).toEqual([1, 'berth: image "example.com/cli:2": already exists\n']);
      expect(berth(['images', 'tag', '--force', 'example.com/partial', 'example.com/cli:2']).code).toBe(0);
      const c = d.client('img-cli');
      expect((await get(c, 'example.com/cli:2')).target?.digest).toBe(sha('no such manifest'));
      expect((await get(c, 'example.com/cli:3')).labels).toEqual({ team: 'a' });
      const rm = berth(['images', 'rm', 'example.com/cli:2', 'nope', 'example.com/cli:3']);
      expect(rm).toMatchObject({ code: 1, stdout: 'example.com/cli:2\nexample.com/cli:3\n', stderr: 'berth: image "nope": not found\n' });
      expect(berth(['images', 'rm', '--sync', 'example.com/cli:1', 'example.com/partial'])).toMatchObject({
        code: 0,
        stdout: 'example.com/cli:1\nexample.com/partial\n',
      });
      expect(berth(['images', 'ls', '-q']).stdout).toBe('');
      for (const b of img.blobs) expect(await errorCode(c.content.Info({ digest: b.desc.digest }))).toBe('NotFound');
    });
  });
});
