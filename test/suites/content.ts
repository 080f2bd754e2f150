import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { contentKind, ingestKind } from '../../daemon/content/gc.ts';
import type { ContentStore } from '../../daemon/content/store.ts';
import { GarbageCollector } from '../../daemon/gc/collector.ts';
import { LeaseStore } from '../../daemon/leases/store.ts';
import { createLogger } from '../../daemon/log.ts';
import { MetadataDB } from '../../daemon/metadata/db.ts';
import { errorCode, sha } from '../support/util.ts';

/**
 * The conformance suite of content stores: verified, read-only blobs by digest seen per
 * namespace, resumable ingests, and garbage collection by roots, references and leases, without
 * gRPC. Each store runs it with one line in daemon/content/store.test.ts.
 */

/** Makes a store whose directory is root (not there yet) over db; the suite calls init(). */
export type OpenContentStore = (root: string, db: MetadataDB) => ContentStore;

export function contentSuite(name: string, open: OpenContentStore): void {
  describe(`content store ${name} (no gRPC)`, () => {
    let dir: string;
    let db: MetadataDB;
    let store: ContentStore;
    let leases: LeaseStore;
    let gc: GarbageCollector;

    beforeEach(async () => {
      dir = mkdtempSync('/tmp/berth-unit-');
      db = await MetadataDB.open(join(dir, 'metadata'));
      gc = new GarbageCollector(db, createLogger('error'));
      store = open(join(dir, 'content'), db);
      await store.init();
      gc.register(contentKind(store));
      gc.register(ingestKind(store));
      leases = new LeaseStore(db, async () => undefined);
    });
    afterEach(async () => {
      gc.stop();
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    });

    const put = async (ns: string, data: string, labels = {}, lease?: string) => {
      const w = await store.writer(ns, { ref: `ref-${data}`, expected: sha(data), total: data.length, lease });
      try {
        // a blob another namespace has starts complete, as the Write stream's STAT would show
        if (w.status().offset === 0) await w.write(Buffer.from(data));
        return await w.commit(data.length, sha(data), labels);
      } finally {
        await w.close();
      }
    };

    it('commits verified bytes read-only under their digest and records them per namespace', async () => {
      expect(await put('a', 'hello', { x: 'y' })).toBe(sha('hello'));
      const file = store.blobPath(sha('hello'));
      expect(statSync(file).mode & 0o777).toBe(0o444);
      expect(await store.info('a', sha('hello'))).toMatchObject({ size: 5, labels: { x: 'y' } });
      expect(await errorCode(store.info('b', sha('hello')))).toBe('NotFound');
      expect(readdirSync(join(dir, 'content', 'ingest'))).toEqual([]);
    });

    it('keeps a failed commit as a resumable ingest and publishes nothing', async () => {
      const w = await store.writer('a', { ref: 'r', total: 3 });
      await w.write(Buffer.from('abcd'));
      expect(await errorCode(w.commit(3, '', {}))).toBe('FailedPrecondition');
      await w.close();
      expect((await store.status('a', 'r')).offset).toBe(4);
      const again = await store.writer('a', { ref: 'r' });
      expect(again.digest()).toBe(sha('abcd'));
      await again.truncate();
      await again.write(Buffer.from('abc'));
      expect(await again.commit(3, sha('abc'), {})).toBe(sha('abc'));
      await again.close();
    });

    it('collects unreferenced blobs, keeps rooted and leased ones, and deletes bytes last', async () => {
      await leases.create('a', 'hold');
      await put('a', 'root', { 'containerd.io/gc.root': '1', 'containerd.io/gc.ref.content.x': sha('child') });
      await put('a', 'child');
      await put('a', 'leased', {}, 'hold');
      await put('a', 'orphan');
      await put('b', 'orphan', { 'containerd.io/gc.root': '1' }); // the same bytes, kept by namespace b
      const stats = await gc.collect();
      expect(stats.removed).toEqual({ content: 1 });
      expect(await errorCode(store.info('a', sha('orphan')))).toBe('NotFound');
      for (const kept of ['root', 'child', 'leased']) expect(await errorCode(store.info('a', sha(kept)))).toBe('no error');
      expect(statSync(store.blobPath(sha('orphan'))).isFile()).toBe(true);
      await store.delete('b', sha('orphan'));
      await gc.collect();
      expect(() => statSync(store.blobPath(sha('orphan')))).toThrow();
    });

    it('never collects an ingest a writer still holds', async () => {
      const w = await store.writer('a', { ref: 'open' });
      await w.write(Buffer.from('partial'));
      await db.update(async (tx) => {
        const bucket = tx.db.bucket('a', 'ingests');
        const r = await tx.get<{ expiresAt?: number }>(bucket, 'open');
        tx.put(bucket, 'open', { ...r, expiresAt: Date.now() - 1 });
      });
      await gc.collect();
      expect((await store.status('a', 'open')).offset).toBe(7);
      await w.close();
      await gc.collect();
      expect(await errorCode(store.status('a', 'open'))).toBe('NotFound');
    });
  });
}
