import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WriteSession, writeBlob } from '../transport/clients/content.ts';
import { type Berthd, startBerthd } from './support/harness.ts';
import { errorCode, sha } from './support/util.ts';

describe('leases and garbage collection of content', () => {
  let d: Berthd;
  beforeAll(async () => {
    d = await startBerthd();
  });
  afterAll(async () => {
    await d?.cleanup();
  });

  const blobFile = (digest: string) => join(d.root, 'content', 'blobs', 'sha256', digest.slice(7));
  const gcNow = async (ns = 'gc') => {
    const c = d.client(ns);
    await c.leases.Create({ id: 'gc-trigger' });
    await c.leases.Delete({ id: 'gc-trigger', sync: true });
  };
  const present = async (ns: string, digest: string) => {
    const c = d.client(ns);
    return (await errorCode(c.content.Info({ digest }))) === 'no error';
  };

  it('keeps a blob while its lease exists and collects it after the lease is deleted', async () => {
    const c = d.client('gc');
    await c.leases.Create({ id: 'pull-1', labels: { purpose: 'test' } });
    const data = Buffer.from('leased blob');
    await writeBlob(d.client('gc', 'pull-1'), data, { ref: 'leased', expected: sha(data) });
    const res = await c.leases.ListResources({ id: 'pull-1' });
    expect(res.resources).toEqual([{ id: sha(data), type: 'content' }]);
    await gcNow();
    expect(await present('gc', sha(data))).toBe(true);
    await c.leases.Delete({ id: 'pull-1', sync: true });
    expect(await present('gc', sha(data))).toBe(false);
    expect(existsSync(blobFile(sha(data)))).toBe(false);
  });

  it('keeps a gc.root blob and everything its gc.ref labels reach, and drops the rest', async () => {
    const c = d.client('gc');
    await c.leases.Create({ id: 'build' });
    const w = d.client('gc', 'build');
    const layer = Buffer.from('layer bytes');
    const config = Buffer.from('config bytes');
    const stray = Buffer.from('nobody wants me');
    await writeBlob(w, layer, { ref: 'layer', expected: sha(layer) });
    await writeBlob(w, config, { ref: 'config', expected: sha(config) });
    await writeBlob(w, stray, { ref: 'stray', expected: sha(stray) });
    const manifest = Buffer.from('manifest bytes');
    await writeBlob(w, manifest, {
      ref: 'manifest',
      expected: sha(manifest),
      labels: { 'containerd.io/gc.root': '2026', 'containerd.io/gc.ref.content.config': sha(config), 'containerd.io/gc.ref.content.l.0': sha(layer) },
    });
    await c.leases.Delete({ id: 'build', sync: true });
    expect(await present('gc', sha(manifest))).toBe(true);
    expect(await present('gc', sha(config))).toBe(true);
    expect(await present('gc', sha(layer))).toBe(true);
    expect(await present('gc', sha(stray))).toBe(false);
    // dropping the root label lets the whole chain go
    await c.content.Update({ info: { digest: sha(manifest), labels: {} }, update_mask: { paths: ['labels.containerd.io/gc.root'] } });
    await gcNow();
    for (const b of [manifest, config, layer]) expect(await present('gc', sha(b))).toBe(false);
  });

  it('collects expired leases and what only they held', async () => {
    const c = d.client('gc');
    await c.leases.Create({ id: 'short', labels: { 'containerd.io/gc.expire': new Date(Date.now() - 1000).toISOString() } });
    const data = Buffer.from('short-lived');
    await writeBlob(d.client('gc', 'short'), data, { ref: 'short', expected: sha(data) });
    await gcNow();
    const leases = await c.leases.List({ filters: [] });
    expect(leases.leases.map((l) => l.id)).not.toContain('short');
    expect(await present('gc', sha(data))).toBe(false);
  });

  it('keeps a blob that an ingest in another namespace is about to link, though its namespace dropped it', async () => {
    // as `images rm` then an immediate pull of the same image: the pull's ingest finds the blob
    // on disk and writes nothing; the collection that follows the rm must leave the file alone
    const a = d.client('shared-a');
    const b = d.client('shared-b');
    const data = Buffer.from('a blob two namespaces want');
    await a.leases.Create({ id: 'hold' });
    await writeBlob(d.client('shared-a', 'hold'), data, { ref: 'first', expected: sha(data) });
    const s = new WriteSession(b);
    const status = await s.send({ action: 'STAT', ref: 'second', total: data.length, expected: sha(data) });
    expect(Number(status.offset)).toBe(data.length);
    await a.leases.Delete({ id: 'hold', sync: true });
    expect(await present('shared-a', sha(data))).toBe(false);
    expect(existsSync(blobFile(sha(data)))).toBe(true);
    const done = await s.send({ action: 'COMMIT', ref: 'second', total: data.length, offset: data.length, expected: sha(data) });
    expect(done.digest).toBe(sha(data));
    s.end();
    expect(await present('shared-b', sha(data))).toBe(true);
  });

  it('keeps an ingest held by a lease and drops it with the lease', async () => {
    const c = d.client('gc');
    await c.leases.Create({ id: 'ingesting' });
    const s = new WriteSession(d.client('gc', 'ingesting'));
    await s.send({ action: 'STAT', ref: 'half' });
    await s.send({ action: 'WRITE', ref: 'half', offset: 0, data: Buffer.from('half of it') });
    s.end();
    await new Promise((r) => setTimeout(r, 100));
    await gcNow();
    expect((await c.content.Status({ ref: 'half' })).status?.offset).toBe(10);
    await c.leases.Delete({ id: 'ingesting', sync: true });
    expect(await errorCode(c.content.Status({ ref: 'half' }))).toBe('NotFound');
  });

  it('filters leases and validates lease resources', async () => {
    const c = d.client('gc');
    await c.leases.Create({ id: 'a1', labels: { team: 'a' } });
    await c.leases.Create({ id: 'b1', labels: { team: 'b' } });
    expect(await errorCode(c.leases.Create({ id: 'a1' }))).toBe('AlreadyExists');
    const a = await c.leases.List({ filters: ['labels.team==a'] });
    expect(a.leases.map((l) => l.id)).toEqual(['a1']);
    const random = await c.leases.Create({ id: '' });
    expect(random.lease?.id).toMatch(/^\d+-[A-Za-z0-9_-]{4}$/);
    expect(await errorCode(c.leases.AddResource({ id: 'a1', resource: { id: 'not-a-digest', type: 'content' } }))).toBe('InvalidArgument');
    expect(await errorCode(c.leases.AddResource({ id: 'a1', resource: { id: 'x', type: 'volumes' } }))).toBe('Unimplemented');
    expect(await errorCode(c.leases.AddResource({ id: 'missing', resource: { id: 'x', type: 'ingests' } }))).toBe('NotFound');
    await c.leases.AddResource({ id: 'a1', resource: { id: 'k', type: 'snapshots/overlayfs' } });
    await c.leases.DeleteResource({ id: 'a1', resource: { id: 'k', type: 'snapshots/overlayfs' } });
    expect((await c.leases.ListResources({ id: 'a1' })).resources).toEqual([]);
    expect(await errorCode(c.leases.Delete({ id: 'nope' }))).toBe('NotFound');
    expect(await errorCode(c.leases.List({ filters: ['id=='] }))).toBe('InvalidArgument');
  });
});
