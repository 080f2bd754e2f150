import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BerthClient } from '../transport/client.ts';
import { WriteSession, writeBlob } from '../transport/clients/content.ts';
import { collect } from '../transport/typed.ts';
import { type Berthd, startBerthd } from './support/harness.ts';
import { errorCode, sha } from './support/util.ts';

const code = errorCode;

async function readAll(c: BerthClient, digest: string, offset = 0, size = 0): Promise<Buffer> {
  const parts = await collect(c.content.Read({ digest, offset, size }));
  return Buffer.concat(parts.map((p) => p.data));
}

const list = async (c: BerthClient, filters: string[] = []) => (await collect(c.content.List({ filters }))).flatMap((m) => m.info);

describe('content store over gRPC', () => {
  let d: Berthd;
  let c: BerthClient;
  // Content that nothing references is garbage-collected, as in containerd, so the suite
  // works under a lease in each namespace it uses.
  const leased = async (ns: string) => {
    const plain = d.client(ns);
    await plain.leases.Create({ id: 'suite' }).catch(() => undefined);
    return d.client(ns, 'suite');
  };
  beforeAll(async () => {
    d = await startBerthd();
    c = await leased('content-test');
  });
  afterAll(async () => {
    await d?.cleanup();
  });

  it('stores a blob by digest and reads it back whole and in ranges', async () => {
    const data = randomBytes(3 * (1 << 20) + 123);
    const res = await writeBlob(c, data, { ref: 'r1', expected: sha(data), labels: { a: 'b' } });
    expect(res).toEqual({ digest: sha(data), size: data.length, existed: false });
    expect((await readAll(c, sha(data))).equals(data)).toBe(true);
    expect((await readAll(c, sha(data), 1000, 5000)).equals(data.subarray(1000, 6000))).toBe(true);
    expect((await readAll(c, sha(data), data.length - 10, 100)).equals(data.subarray(data.length - 10))).toBe(true);
    const info = await c.content.Info({ digest: sha(data) });
    expect(info.info?.size).toBe(data.length);
    expect(info.info?.labels).toEqual({ a: 'b' });
    // the bytes are on disk once, read-only, named by their digest
    const blob = join(d.root, 'content', 'blobs', 'sha256', sha(data).slice(7));
    expect(existsSync(blob)).toBe(true);
  });

  it('refuses a commit whose digest does not match, and no blob appears', async () => {
    const data = Buffer.from('the real bytes');
    const wrong = sha(Buffer.from('other bytes'));
    expect(await code(writeBlob(c, data, { ref: 'bad-digest', expected: wrong }))).toBe('FailedPrecondition');
    expect((await list(c)).map((i) => i.digest)).not.toContain(sha(data));
    expect(existsSync(join(d.root, 'content', 'blobs', 'sha256', sha(data).slice(7)))).toBe(false);
    expect(await code(c.content.Info({ digest: sha(data) }))).toBe('NotFound');
  });

  it('refuses a commit whose size does not match', async () => {
    const data = Buffer.from('twelve bytes');
    expect(await code(writeBlob(c, data, { ref: 'bad-size', total: data.length + 1, expected: sha(data) }))).toBe('FailedPrecondition');
    expect((await list(c)).map((i) => i.digest)).not.toContain(sha(data));
  });

  it('refuses a write at the wrong offset with OutOfRange', async () => {
    const s = new WriteSession(c);
    await s.send({ action: 'STAT', ref: 'offsets' });
    const first = await s.send({ action: 'WRITE', ref: 'offsets', offset: 0, data: Buffer.from('abcdef') });
    expect(first.offset).toBe(6);
    expect(await code(s.send({ action: 'WRITE', ref: 'offsets', offset: 3, data: Buffer.from('x') }))).toBe('OutOfRange');
    s.end();
    const st = await c.content.Status({ ref: 'offsets' });
    expect(st.status?.offset).toBe(6);
    await c.content.Abort({ ref: 'offsets' });
    expect(await code(c.content.Status({ ref: 'offsets' }))).toBe('NotFound');
  });

  it('requires a ref on the first message', async () => {
    const s = new WriteSession(c);
    expect(await code(s.send({ action: 'STAT', ref: '' }))).toBe('InvalidArgument');
  });

  it('locks a ref to one writer at a time', async () => {
    const a = new WriteSession(c);
    await a.send({ action: 'STAT', ref: 'locked' });
    const b = new WriteSession(c);
    expect(await code(b.send({ action: 'STAT', ref: 'locked' }))).toBe('Unavailable');
    a.end();
    await new Promise((r) => setTimeout(r, 100));
    const again = new WriteSession(c);
    await again.send({ action: 'STAT', ref: 'locked' });
    again.end();
    await c.content.Abort({ ref: 'locked' });
  });

  it('resumes an interrupted ingest from where it stopped, also after the daemon was killed', async () => {
    const data = randomBytes(2 * (1 << 20) + 7);
    const s = new WriteSession(c);
    await s.send({ action: 'STAT', ref: 'resume', total: data.length, expected: sha(data) });
    await s.send({ action: 'WRITE', ref: 'resume', offset: 0, data: data.subarray(0, 1 << 20) });
    s.cancel();
    await new Promise((r) => setTimeout(r, 100));
    const active = await c.content.ListStatuses({ filters: ['ref==resume'] });
    expect(active.statuses).toEqual([expect.objectContaining({ ref: 'resume', offset: 1 << 20, total: data.length })]);
    // the partial bytes are nowhere a reader could see them
    expect(await code(c.content.Info({ digest: sha(data) }))).toBe('NotFound');

    await d.kill();
    await d.restart();
    const c2 = await leased('content-test');
    let resumedAt = -1;
    const res = await writeBlob(c2, data, { ref: 'resume', expected: sha(data), progress: (o) => (resumedAt = resumedAt < 0 ? o : resumedAt) });
    expect(res.digest).toBe(sha(data));
    expect(resumedAt).toBe(2 << 20); // the first chunk written after resuming ended at 2 MiB
    expect((await readAll(c2, sha(data))).equals(data)).toBe(true);
    c = c2;
  });

  it('answers AlreadyExists for a blob the namespace has, and shares bytes across namespaces', async () => {
    const data = Buffer.from('shared across namespaces');
    await writeBlob(c, data, { ref: 'share-a', expected: sha(data) });
    const again = await writeBlob(c, data, { ref: 'share-a2', expected: sha(data) });
    expect(again.existed).toBe(true);

    const other = await leased('content-other');
    expect(await code(other.content.Info({ digest: sha(data) }))).toBe('NotFound');
    const s = new WriteSession(other);
    const st = await s.send({ action: 'STAT', ref: 'share-b', total: data.length, expected: sha(data) });
    expect(st.offset).toBe(data.length); // nothing to upload: the daemon already holds the bytes
    const done = await s.send({ action: 'COMMIT', ref: 'share-b', total: data.length, expected: sha(data), offset: data.length });
    s.end();
    expect(done.digest).toBe(sha(data));
    expect((await readAll(other, sha(data))).equals(data)).toBe(true);

    // a client that writes anyway (it streams and cannot skip) starts an ordinary ingest
    const third = await leased('content-third');
    const streamed = await writeBlob(
      third,
      (async function* () {
        yield data;
      })(),
      { ref: 'share-c', total: data.length, expected: sha(data) },
    );
    expect(streamed).toEqual({ digest: sha(data), size: data.length, existed: false });
    expect((await readAll(third, sha(data))).equals(data)).toBe(true);

    // deleting it in one namespace leaves it readable in the other
    await c.content.Delete({ digest: sha(data) });
    expect(await code(c.content.Info({ digest: sha(data) }))).toBe('NotFound');
    await other.leases.Create({ id: 'flush' });
    await other.leases.Delete({ id: 'flush', sync: true }); // runs the collector now
    expect((await readAll(other, sha(data))).equals(data)).toBe(true);
  });

  it('removes the bytes once no namespace has the blob', async () => {
    const data = randomBytes(1000);
    await writeBlob(c, data, { ref: 'gone', expected: sha(data) });
    const file = join(d.root, 'content', 'blobs', 'sha256', sha(data).slice(7));
    expect(existsSync(file)).toBe(true);
    await c.content.Delete({ digest: sha(data) });
    await c.leases.Create({ id: 'flush2' });
    await c.leases.Delete({ id: 'flush2', sync: true });
    expect(existsSync(file)).toBe(false);
  });

  it('updates labels through field masks and filters by them', async () => {
    const data = Buffer.from('labelled');
    await writeBlob(c, data, { ref: 'labels', expected: sha(data), labels: { keep: '1', drop: '2' } });
    const up = await c.content.Update({
      info: { digest: sha(data), labels: { 'containerd.io/gc.root': 'x', drop: '' } },
      update_mask: { paths: ['labels.containerd.io/gc.root', 'labels.drop'] },
    });
    expect(up.info?.labels).toEqual({ keep: '1', 'containerd.io/gc.root': 'x' });
    expect((await list(c, ['labels."containerd.io/gc.root"'])).map((i) => i.digest)).toEqual([sha(data)]);
    expect((await list(c, [`digest==${sha(data)}`])).length).toBe(1);
    expect((await list(c, ['labels.keep==2'])).length).toBe(0);
    expect((await list(c, ['labels.keep==2', 'labels.keep==1'])).length).toBe(1); // separate filters are ORed
    expect(await code(c.content.Update({ info: { digest: sha(data), labels: {} }, update_mask: { paths: ['size'] } }))).toBe('InvalidArgument');
    expect(await code(c.content.Update({ info: { digest: sha(data), labels: { big: 'x'.repeat(5000) } }, update_mask: { paths: ['labels.big'] } }))).toBe(
      'InvalidArgument',
    );
    expect((await c.content.Info({ digest: sha(data) })).info?.labels).toEqual({
      keep: '1',
      'containerd.io/gc.root': 'x',
    });
  });

  it('gives clear errors for bad input and changes nothing', async () => {
    const before = (await list(c)).length;
    expect(await code(collect(c.content.List({ filters: ['labels.=='] })))).toBe('InvalidArgument');
    expect(await code(c.content.Info({ digest: 'sha256:nothex' }))).toBe('InvalidArgument');
    expect(await code(c.content.Info({ digest: 'md5:abcd' }))).toBe('InvalidArgument');
    expect(await code(c.content.Delete({ digest: sha(Buffer.from('never stored')) }))).toBe('NotFound');
    expect(await code(c.content.Abort({ ref: 'no-such-ref' }))).toBe('NotFound');
    const one = (await list(c))[0];
    expect(await code(readAll(c, one.digest, one.size + 1))).toBe('OutOfRange');
    const bad = d.client('../etc');
    expect(await code(bad.content.Info({ digest: one.digest }))).toBe('InvalidArgument');
    const unknown = d.client('never-created');
    expect(await code(unknown.content.Info({ digest: one.digest }))).toBe('NotFound');
    expect((await list(c)).length).toBe(before);
    // no ingest leftovers for the failed writes of this suite other than those still open
    const ingests = readdirSync(join(d.root, 'content', 'ingest'));
    const statuses = await c.content.ListStatuses({ filters: [] });
    expect(ingests.length).toBeGreaterThanOrEqual(statuses.statuses.length);
  });
});
