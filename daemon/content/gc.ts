import type { CollectibleKind, GcObject } from '../gc/collector.ts';
import { isGcRoot, labelRefs } from '../gc/collector.ts';
import type { Labels } from '../labels.ts';
import type { ContentStore, IngestRecord } from './store.ts';

/**
 * Blobs: roots by label, references by gc.ref labels; bytes go when no namespace has them and
 * no live ingest is about to link them (an ingest of a blob that another namespace had when it
 * started writes nothing and links the file at commit).
 */
export function contentKind(store: ContentStore): CollectibleKind {
  return {
    kind: 'content',
    async scan(tx, ns) {
      const records = await tx.entries<{ labels: Labels }>(tx.db.bucket(ns, 'content'));
      return records.map(([key, r]): GcObject => ({ key, root: isGcRoot(r.labels), refs: labelRefs(r.labels) }));
    },
    async remove(tx, ns, keys) {
      for (const key of keys) tx.del(tx.db.bucket(ns, 'content'), key);
    },
    async afterCollect() {
      const used = new Set<string>();
      for (const ns of await store.db.listNamespaces()) {
        for await (const [digest] of store.db.entries(store.db.bucket(ns, 'content'))) used.add(digest);
        for await (const [, r] of store.db.entries<IngestRecord>(store.db.bucket(ns, 'ingests'))) if (r.shared) used.add(r.shared.digest);
      }
      for (const digest of await store.blobsOnDisk()) if (!used.has(digest)) await store.removeBlob(digest);
    },
  };
}

/** Ingests: kept while a writer holds them, a lease holds them, or they have not expired. */
export function ingestKind(store: ContentStore): CollectibleKind {
  const abandoned: string[] = [];
  return {
    kind: 'ingests',
    async scan(tx, ns) {
      const now = Date.now();
      const records = await tx.entries<IngestRecord>(tx.db.bucket(ns, 'ingests'));
      return records.map(([ref, r]) => ({
        key: ref,
        root: store.isLocked(ns, ref) || (r.expiresAt !== undefined && r.expiresAt > now),
        refs: [],
      }));
    },
    async remove(tx, ns, refs) {
      const bucket = tx.db.bucket(ns, 'ingests');
      for (const ref of refs) {
        const r = await tx.get<IngestRecord>(bucket, ref);
        if (r) abandoned.push(r.dir);
        tx.del(bucket, ref);
      }
    },
    async afterCollect() {
      for (const dir of abandoned.splice(0)) await store.removeIngestDir(dir);
    },
  };
}
