import type { Labels } from '../labels.ts';
import { expireLabel, flatLabel, LeaseStore } from '../leases/store.ts';
import type { Logger } from '../log.ts';
import type { MetadataDB, Tx } from '../metadata/db.ts';

/** A resource in one namespace: kind is 'content', 'ingests', 'snapshots/<snapshotter>', ... */
export interface GcRef {
  kind: string;
  key: string;
}

export interface GcObject {
  key: string;
  /** kept whatever refers to it (e.g. a containerd.io/gc.root label, an image, a container) */
  root: boolean;
  /** what this object keeps alive */
  refs: GcRef[];
}

/**
 * A kind of resource the collector manages. Each store that owns collectable objects registers
 * one: scan lists the namespace's objects with their roots and references, remove deletes the
 * unreachable ones inside the collector's transaction, and afterCollect frees what lives outside
 * the database (blob files, snapshot directories) once that transaction is committed, still
 * holding the metadata lock.
 */
export interface CollectibleKind {
  kind: string;
  scan(tx: Tx, namespace: string): Promise<GcObject[]>;
  remove(tx: Tx, namespace: string, keys: string[]): Promise<void>;
  afterCollect?(): Promise<void>;
}

export interface GcStats {
  removed: Record<string, number>;
  leasesExpired: number;
  durationMs: number;
}

const contentRef = /^containerd\.io\/gc\.ref\.content(?:[./].*)?$/;
const snapshotRef = /^containerd\.io\/gc\.ref\.snapshot\.([^/]+)(?:\/.*)?$/;

/** The references that containerd's gc.ref labels on an object make. */
export function labelRefs(labels: Labels): GcRef[] {
  const refs: GcRef[] = [];
  for (const [key, value] of Object.entries(labels)) {
    if (contentRef.test(key)) refs.push({ kind: 'content', key: value });
    const m = snapshotRef.exec(key);
    if (m) refs.push({ kind: `snapshots/${m[1]}`, key: value });
  }
  return refs;
}

export const isGcRoot = (labels: Labels) => Object.hasOwn(labels, 'containerd.io/gc.root');

/**
 * Mark and sweep over the metadata database, namespace by namespace. Roots are objects marked
 * as roots by their kind and the resources of unexpired leases; everything reachable from them
 * through references stays, the rest is removed. It runs as one metadata transaction, so no
 * store can create or reference an object half-way through a collection.
 */
export class GarbageCollector {
  private readonly kinds = new Map<string, CollectibleKind>();
  private timer: NodeJS.Timeout | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly db: MetadataDB,
    private readonly log: Logger,
    private readonly delayMs = 100,
  ) {}

  register(kind: CollectibleKind) {
    this.kinds.set(kind.kind, kind);
  }

  /** Asks for a collection soon; several requests close together make one run. */
  schedule() {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.start();
    }, this.delayMs);
    this.timer.unref();
  }

  /** Starts a collection now without waiting for it (its failure is logged). */
  start() {
    this.collect().catch((err) => this.log.error('garbage collection failed', { error: (err as Error).message }));
  }

  /** After a delete: collect now and wait (a client asked for `sync`), or soon. */
  async afterDelete(sync: boolean): Promise<void> {
    if (sync) await this.collect();
    else this.schedule();
  }

  /** Runs a collection now (after any that is under way) and resolves when it is done. */
  collect(): Promise<GcStats> {
    const run = this.queue.catch(() => undefined).then(() => this.run());
    this.queue = run;
    return run;
  }

  stop() {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async run(): Promise<GcStats> {
    const started = Date.now();
    const stats: GcStats = { removed: {}, leasesExpired: 0, durationMs: 0 };
    await this.db.update(async (tx) => {
      for (const ns of await this.db.listNamespaces()) await this.collectNamespace(tx, ns, stats);
    });
    // Still under the metadata lock, so nothing can be created and referenced meanwhile.
    await this.db.update(async () => {
      for (const kind of this.kinds.values()) await kind.afterCollect?.();
    });
    stats.durationMs = Date.now() - started;
    if (Object.values(stats.removed).some((n) => n > 0) || stats.leasesExpired > 0) this.log.info('garbage collected', stats as never);
    return stats;
  }

  private async collectNamespace(tx: Tx, ns: string, stats: GcStats) {
    const objects = new Map<string, Map<string, GcObject>>();
    for (const kind of this.kinds.values()) {
      objects.set(kind.kind, new Map((await kind.scan(tx, ns)).map((o) => [o.key, o])));
    }
    const marked = new Set<string>();
    const id = (r: GcRef) => `${r.kind}\0${r.key}`;
    const visit = (ref: GcRef, follow: boolean) => {
      const stack = [ref];
      while (stack.length > 0) {
        const r = stack.pop()!;
        const obj = objects.get(r.kind)?.get(r.key);
        if (!obj || marked.has(id(r))) continue;
        marked.add(id(r));
        if (follow) stack.push(...obj.refs);
      }
    };
    const now = Date.now();
    for (const lease of await LeaseStore.all(tx, ns)) {
      const expire = lease.labels[expireLabel];
      if (expire !== undefined && Date.parse(expire) < now) {
        LeaseStore.remove(tx, ns, lease.id);
        stats.leasesExpired++;
        continue;
      }
      const flat = Object.hasOwn(lease.labels, flatLabel);
      for (const r of lease.resources) visit({ kind: r.type, key: r.id }, !flat);
    }
    for (const [kind, objs] of objects) {
      for (const o of objs.values()) if (o.root) visit({ kind, key: o.key }, true);
    }
    for (const [kind, objs] of objects) {
      const dead = [...objs.keys()].filter((key) => !marked.has(`${kind}\0${key}`));
      if (dead.length === 0) continue;
      await this.kinds.get(kind)!.remove(tx, ns, dead);
      stats.removed[kind] = (stats.removed[kind] ?? 0) + dead.length;
    }
  }
}
