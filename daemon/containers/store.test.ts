import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { unpackAny } from '../../core/any.ts';
import { errorCode } from '../../test/support/util.ts';
import { type Envelope, Exchange } from '../events/exchange.ts';
import { MetadataDB } from '../metadata/db.ts';
import { type ContainerInput, ContainerStore } from './store.ts';

const spec = { typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Spec', value: Buffer.from('{"ociVersion":"1.0.2"}') };

const input = (id: string, extra: Partial<ContainerInput> = {}): ContainerInput => ({
  id,
  labels: {},
  image: '',
  runtime: { name: 'io.containerd.runc.v2' },
  spec,
  snapshotter: '',
  snapshotKey: '',
  extensions: {},
  sandbox: '',
  ...extra,
});

describe('ContainerStore (no gRPC)', () => {
  let dir: string;
  let db: MetadataDB;
  let events: Exchange;
  let collects: boolean[];
  let store: ContainerStore;

  beforeEach(async () => {
    dir = mkdtempSync('/tmp/berth-unit-');
    db = await MetadataDB.open(join(dir, 'metadata'));
    events = new Exchange();
    collects = [];
    store = new ContainerStore(db, events, async (sync) => void collects.push(sync));
  });
  afterEach(async () => {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps records, Any bytes included, across a reopen of the database', async () => {
    const odd = { typeUrl: 'x/y', value: Buffer.from([0, 1, 2, 255]) };
    const made = await store.create(
      'ns',
      input('c1', { runtime: { name: 'rt', options: odd }, extensions: { e: odd }, sandbox: 'sb', labels: { a: '1', gone: '' } }),
    );
    expect(made.labels).toEqual({ a: '1' });
    await db.close();
    db = await MetadataDB.open(join(dir, 'metadata'));
    store = new ContainerStore(db, events, async () => undefined);
    const got = await store.get('ns', 'c1');
    expect(got).toEqual(made);
    expect(got.runtime.options!.value.equals(odd.value)).toBe(true);
    expect(got.spec!.value.equals(spec.value)).toBe(true);
    expect(await db.listNamespaces()).toEqual(['ns']);
  });

  it('publishes after commit, and asks for a collection after a delete', async () => {
    const seen: Envelope[] = [];
    events.subscribe([], (e) => seen.push(e));
    await store.create('ns', input('c1', { image: 'img' }));
    await store.update('ns', input('c1', { labels: { k: 'v' } }), ['labels.k']);
    expect(await errorCode(store.update('ns', input('c1'), ['snapshotter']))).toBe('InvalidArgument');
    await store.delete('ns', 'c1');
    expect(seen.map((e) => [e.topic, unpackAny(e.event).message])).toEqual([
      ['/containers/create', { id: 'c1', image: 'img', runtime: { name: 'io.containerd.runc.v2', options: null } }],
      ['/containers/update', { id: 'c1', image: 'img', labels: { k: 'v' }, snapshot_key: '' }],
      ['/containers/delete', { id: 'c1' }],
    ]);
    expect(collects).toEqual([false]);
  });

  it('is a GC root referring to its snapshot, its image and its gc.ref labels', async () => {
    await store.create(
      'ns',
      input('c1', {
        image: 'docker.io/library/busybox:latest',
        snapshotter: 'overlayfs',
        snapshotKey: 'c1',
        labels: { 'containerd.io/gc.ref.content.x': 'sha256:abc', 'containerd.io/gc.ref.snapshot.native/1': 'k', other: 'v' },
      }),
    );
    await store.create('ns', input('bare'));
    const scanned = await db.update((tx) => store.gcKind().scan(tx, 'ns'));
    expect(scanned).toEqual([
      { key: 'bare', root: true, refs: [] },
      {
        key: 'c1',
        root: true,
        refs: [
          { kind: 'snapshots/overlayfs', key: 'c1' },
          { kind: 'images', key: 'docker.io/library/busybox:latest' },
          { kind: 'content', key: 'sha256:abc' },
          { kind: 'snapshots/native', key: 'k' },
        ],
      },
    ]);
  });
});
