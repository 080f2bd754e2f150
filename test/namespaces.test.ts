import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unpackAny } from '../core/any.ts';
import { writeBlob } from '../transport/clients/content.ts';
import { grpcEvents, metadata } from './support/grpc-js.ts';
import { type Berthd, startBerthd } from './support/harness.ts';
import { errorCode, failure, sha, sleep } from './support/util.ts';

describe('namespaces', () => {
  let d: Berthd;
  beforeAll(async () => {
    d = await startBerthd();
  });
  afterAll(async () => {
    await d?.cleanup();
  });

  it('creates, labels, lists and deletes namespaces, publishing an event for each change', async () => {
    const c = d.client();
    const events: Array<{ topic: string; namespace: string; name: unknown }> = [];
    const sub = grpcEvents(c).Subscribe({ filters: ['topic~="^/namespaces/"'] }, metadata(c));
    sub.on('data', (e) => events.push({ topic: e.topic, namespace: e.namespace, name: unpackAny(e.event).message.name }));
    sub.on('error', () => undefined);
    await sleep(50);

    await c.namespaces.Create({ namespace: { name: 'team-a', labels: { owner: 'ops' } } });
    expect(await errorCode(c.namespaces.Create({ namespace: { name: 'team-a' } }))).toBe('AlreadyExists');
    const up = await c.namespaces.Update({
      namespace: { name: 'team-a', labels: { tier: 'gold' } },
      update_mask: { paths: ['labels.tier'] },
    });
    expect(up.namespace?.labels).toEqual({ owner: 'ops', tier: 'gold' });
    const got = await c.namespaces.Get({ name: 'team-a' });
    expect(got.namespace).toEqual({ name: 'team-a', labels: { owner: 'ops', tier: 'gold' } });
    const all = await c.namespaces.List({});
    expect(all.namespaces.map((n) => n.name)).toContain('team-a');
    await c.namespaces.Delete({ name: 'team-a' });
    expect((await c.namespaces.List({})).namespaces.map((n) => n.name)).not.toContain('team-a');
    await sleep(100);
    sub.cancel();
    expect(events).toEqual([
      { topic: '/namespaces/create', namespace: 'team-a', name: 'team-a' },
      { topic: '/namespaces/update', namespace: 'team-a', name: 'team-a' },
      { topic: '/namespaces/delete', namespace: 'team-a', name: 'team-a' },
    ]);
  });

  it('reads a namespace that does not exist as one without labels, like containerd', async () => {
    const c = d.client();
    const got = await c.namespaces.Get({ name: 'nobody-here' });
    expect(got.namespace).toEqual({ name: 'nobody-here', labels: {} });
  });

  it('comes into existence with the first object created in it', async () => {
    const c = d.client('implicit');
    await c.leases.Create({ id: 'l1' });
    const all = await c.namespaces.List({});
    expect(all.namespaces.map((n) => n.name)).toContain('implicit');
  });

  it('refuses to delete a namespace that still holds something, and says what', async () => {
    const c = d.client('busy');
    await c.leases.Create({ id: 'keep' });
    await writeBlob(d.client('busy', 'keep'), Buffer.from('x'), { ref: 'x', expected: sha('x') });
    const err = await failure(c.namespaces.Delete({ name: 'busy' }));
    expect(err.code).toBe('FailedPrecondition');
    expect(err.message).toBe('namespace "busy" must be empty, but it still has blobs, leases');
    // nothing was changed
    expect((await c.leases.List({})).leases).toHaveLength(1);
    await c.content.Delete({ digest: sha('x') });
    await c.leases.Delete({ id: 'keep', sync: true });
    await c.namespaces.Delete({ name: 'busy' });
  });

  it('rejects invalid names and unknown namespaces with the right codes', async () => {
    const c = d.client();
    for (const name of ['../../etc', 'a/b', '.', 'a..b', 'a\nb', 'x'.repeat(77), '-lead']) {
      expect(await errorCode(c.namespaces.Create({ namespace: { name } })), name).toBe('InvalidArgument');
    }
    expect(await errorCode(c.namespaces.Create({ namespace: { name: 'x'.repeat(76) } }))).toBe('no error');
    expect(await errorCode(c.namespaces.Delete({ name: 'never-made' }))).toBe('NotFound');
    expect(await errorCode(c.namespaces.Update({ namespace: { name: 'default', labels: {} }, update_mask: { paths: ['name'] } }))).toBe('InvalidArgument');
    // a namespaced call with an invalid namespace header
    const bad = d.client('bad/ns');
    expect(await errorCode(bad.leases.List({ filters: [] }))).toBe('InvalidArgument');
  });
});
