import { Level } from 'level';
import { BerthError, failedPrecondition } from '../../core/errors.ts';
import { validateIdentifier } from '../../core/identifiers.ts';
import { Mutex } from '../../core/mutex.ts';

/**
 * The metadata database: one LevelDB under <root>/metadata. Layout (JSON values):
 *
 *   meta      version                      schema version of everything below
 *   ns        <namespace>                  { labels, createdAt }
 *   v1!<namespace>!<kind>  <key>           one record per object of that kind:
 *     content      <digest>               { size, labels, createdAt, updatedAt }
 *     ingests      <ref>                  { dir, expiresAt?, expected?, size? }
 *     leases       <id>                   { labels, createdAt, resources: [{id, type}] }
 *   (later issues add images, containers and snapshots.<snapshotter> the same way)
 *
 * Every change goes through update(): writes are serialised, collected in a transaction and
 * committed as one synced LevelDB batch, so a crash never leaves half a change behind.
 * When the layout changes: update this comment, bump schemaVersion and add a migration.
 */
export const schemaVersion = 1;

// biome-ignore lint/suspicious/noExplicitAny: the sublevels of one batch hold values of different types
type Sublevel = import('abstract-level').AbstractSublevel<any, any, string, unknown>;
type Op = { type: 'put'; sublevel: Sublevel; key: string; value: unknown } | { type: 'del'; sublevel: Sublevel; key: string };

export interface NamespaceRecord {
  labels: Record<string, string>;
  createdAt: number;
}

export class MetadataDB {
  private readonly writes = new Mutex();
  private readonly buckets = new Map<string, Sublevel>();
  readonly namespaces: Sublevel;
  private readonly meta: Sublevel;
  /** a copy of the namespaces sublevel, kept in step by update() */
  readonly namespaceCache = new Map<string, NamespaceRecord>();

  private constructor(private readonly db: Level<string, unknown>) {
    this.meta = db.sublevel<string, unknown>('meta', { valueEncoding: 'json' });
    this.namespaces = db.sublevel<string, unknown>('ns', { valueEncoding: 'json' });
  }

  static async open(path: string): Promise<MetadataDB> {
    const db = new Level<string, unknown>(path, { valueEncoding: 'json' });
    try {
      await db.open();
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      if (cause?.code === 'LEVEL_LOCKED') {
        throw failedPrecondition(`metadata database ${path} is locked: another berthd is already running on this root`);
      }
      if (cause?.code === 'LEVEL_CORRUPTION') {
        throw new BerthError('DataLoss', `metadata database ${path} is corrupt: ${cause.message}`);
      }
      throw new BerthError('Internal', `cannot open metadata database ${path}: ${cause?.message ?? (err as Error).message}`);
    }
    const mdb = new MetadataDB(db);
    await mdb.checkSchema(path);
    for await (const [name, record] of mdb.namespaces.iterator()) mdb.namespaceCache.set(name, record as NamespaceRecord);
    return mdb;
  }

  private async checkSchema(path: string) {
    const version = (await this.meta.get('version')) as number | undefined;
    if (version === undefined) {
      for await (const _ of this.db.keys({ limit: 1 })) {
        throw new BerthError('DataLoss', `metadata database ${path} has data but no schema version; refusing to touch it`);
      }
      await this.meta.put('version', schemaVersion, syncWrite);
    } else if (version > schemaVersion) {
      throw failedPrecondition(`metadata database ${path} has schema version ${version}, newer than this berthd supports (${schemaVersion})`);
    }
  }

  /** The records of one kind in one namespace. */
  bucket(namespace: string, kind: string): Sublevel {
    const name = `${namespace}!${kind}`;
    let sub = this.buckets.get(name);
    if (!sub) {
      sub = this.db.sublevel<string, unknown>(['v1', namespace, kind], { valueEncoding: 'json' });
      this.buckets.set(name, sub);
    }
    return sub;
  }

  /**
   * Reads one record. LevelDB answers small reads from memory, so the synchronous read is used:
   * it costs a fraction of an async one, which goes through libuv's thread pool.
   */
  async get<T>(sublevel: Sublevel, key: string): Promise<T | undefined> {
    if (sublevel === this.namespaces) return this.namespaceCache.get(key) as T | undefined;
    // A sublevel made a moment ago is still opening, and only the async read waits for that.
    if (sublevel.status !== 'open') return (await sublevel.get(key)) as T | undefined;
    return sublevel.getSync(key) as T | undefined;
  }

  async *entries<T>(sublevel: Sublevel): AsyncGenerator<[string, T]> {
    for await (const [key, value] of sublevel.iterator()) yield [key, value as T];
  }

  /** Every namespace that exists. */
  async listNamespaces(): Promise<string[]> {
    return [...this.namespaceCache.keys()];
  }

  /** Every namespace record; namespaces are few and read on hot paths, so they are kept in memory. */
  namespaceRecords(): Array<[string, NamespaceRecord]> {
    return [...this.namespaceCache].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** The kinds of record a namespace holds; keys there read '!<kind>!<key>'. */
  async kindsIn(namespace: string): Promise<string[]> {
    const sub = this.db.sublevel<string, unknown>(['v1', namespace], {});
    const kinds: string[] = [];
    let from = '!';
    for (;;) {
      const [key] = await sub.keys({ gte: from, limit: 1 }).all();
      if (key === undefined) return kinds;
      const kind = key.slice(1, key.indexOf('!', 1));
      kinds.push(kind);
      from = `!${kind}"`; // '"' sorts right after '!', so this skips the rest of this kind
    }
  }

  /**
   * Runs fn as the only writer; its changes are committed atomically at the end, and synced unless
   * `durable` is false: for a change that protects nothing once the machine has crashed (a
   * client's lease, an empty one or one whose client died with the machine). LevelDB's log is
   * one sequence, so the next synced commit makes such a change durable too.
   */
  update<T>(fn: (tx: Tx) => Promise<T>, { durable = true }: { durable?: boolean } = {}): Promise<T> {
    return this.writes.run(async () => {
      const tx = new Tx(this);
      const result = await fn(tx);
      await tx.commit(this.db, durable);
      for (const [name, record] of tx.pendingIn(this.namespaces)) {
        if (record === undefined) this.namespaceCache.delete(name);
        else this.namespaceCache.set(name, record as NamespaceRecord);
      }
      for (const hook of tx.afterCommit) hook();
      return result;
    });
  }

  async close() {
    await this.writes.run(() => this.db.close());
  }
}

/** A write transaction: reads see the transaction's own writes. */
export class Tx {
  private readonly ops: Op[] = [];
  private readonly overlay = new Map<Sublevel, Map<string, unknown>>();
  readonly afterCommit: Array<() => void> = [];

  constructor(readonly db: MetadataDB) {}

  async get<T>(sublevel: Sublevel, key: string): Promise<T | undefined> {
    const pending = this.overlay.get(sublevel);
    if (pending?.has(key)) return pending.get(key) as T | undefined;
    return this.db.get<T>(sublevel, key);
  }

  put(sublevel: Sublevel, key: string, value: unknown) {
    this.ops.push({ type: 'put', sublevel, key, value });
    this.pending(sublevel).set(key, value);
  }

  del(sublevel: Sublevel, key: string) {
    this.ops.push({ type: 'del', sublevel, key });
    this.pending(sublevel).set(key, undefined);
  }

  /** Records of one kind, as they will be after this transaction. */
  async entries<T>(sublevel: Sublevel): Promise<Array<[string, T]>> {
    const out = new Map<string, T>();
    for await (const [k, v] of this.db.entries<T>(sublevel)) out.set(k, v);
    for (const [k, v] of this.overlay.get(sublevel) ?? []) {
      if (v === undefined) out.delete(k);
      else out.set(k, v as T);
    }
    return [...out];
  }

  /** Namespaces come into existence with the first object created in them. */
  async ensureNamespace(namespace: string) {
    validateIdentifier(namespace);
    if ((await this.get(this.db.namespaces, namespace)) === undefined) {
      this.put(this.db.namespaces, namespace, { labels: {}, createdAt: Date.now() } satisfies NamespaceRecord);
    }
  }

  /** Called once the batch is on disk, e.g. to publish events. */
  onCommit(hook: () => void) {
    this.afterCommit.push(hook);
  }

  /** The writes this transaction makes to one sublevel (undefined: deleted). */
  pendingIn(sublevel: Sublevel): Map<string, unknown> {
    return this.overlay.get(sublevel) ?? new Map();
  }

  private pending(sublevel: Sublevel) {
    let m = this.overlay.get(sublevel);
    if (!m) this.overlay.set(sublevel, (m = new Map()));
    return m;
  }

  async commit(db: Level<string, unknown>, durable = true) {
    if (this.ops.length === 0) return;
    await db.batch(this.ops as never, durable ? syncWrite : {});
  }
}

export type { Sublevel };

// classic-level's option to fsync the log before resolving; abstract-level's types omit it.
const syncWrite = { sync: true } as object;
