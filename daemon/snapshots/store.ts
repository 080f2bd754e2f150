import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { alreadyExists, BerthError, failedPrecondition, invalidArgument, notFound } from '../../core/errors.ts';
import type { Exchange } from '../events/exchange.ts';
import { adaptFields, parseFilters } from '../filters.ts';
import { exists, syncDir } from '../fsutil.ts';
import { type CollectibleKind, type GcObject, isGcRoot, labelRefs } from '../gc/collector.ts';
import { type Labels, updateLabels, validateLabels } from '../labels.ts';
import { addLeaseResource, removeLeaseResource } from '../leases/store.ts';
import type { MetadataDB, Tx } from '../metadata/db.ts';
import type { Kind, Mount, SnapshotDirs, Snapshotter, Usage } from './snapshotter.ts';

export interface SnapshotInfo {
  /** the key (active, view) or name (committed) */
  name: string;
  /** the committed parent's name, '' for none */
  parent: string;
  kind: Kind;
  labels: Labels;
  createdAt: number;
  updatedAt: number;
}

/** Per-namespace record, bucket `snapshots/<snapshotter>`, keyed by the snapshot's key. */
interface SnapshotRecord {
  /** the directory `<root>/snapshots/<id>`; ids are unique across namespaces */
  id: string;
  kind: Kind;
  parent: string;
  labels: Labels;
  createdAt: number;
  updatedAt: number;
  /** committed snapshots: measured at commit */
  usage?: Usage;
}

/** Anything to read records from: the database, or a transaction (which sees its own writes). */
type Reader = Pick<Tx, 'get'>;

// The id sequences live outside every namespace (a scope no namespace name can take), one key
// per snapshotter holding the next id to hand out.
const sequenceScope = '_global';
const sequenceKind = 'snapshot-ids';

const snapshotRefLabel = 'containerd.io/snapshot.ref';

/**
 * The snapshots of one snapshotter, by namespace: keys, kinds, parents and labels in the metadata
 * database, directories through the backend. See snapshotter.ts for the model.
 *
 * Crash safety: a new snapshot's directory is filled under a temporary name (`new-…`) outside
 * the metadata lock, then renamed to its id inside the transaction that records it; removal
 * deletes the record and leaves the directory to the next collection (or Cleanup). Directories
 * that no record names, whatever left them, are removed at start-up, by the collector and by
 * Cleanup.
 */
export class SnapshotStore {
  /** the record bucket, the garbage collector's kind and the lease resource type */
  readonly kind: string;
  readonly dir: string;
  /** temporary directories being filled right now, which cleanup must leave alone */
  private readonly filling = new Set<string>();

  constructor(
    readonly name: string,
    readonly backend: Snapshotter,
    readonly db: MetadataDB,
    private readonly events: Exchange,
    /** called after a removal, to have the directory collected soon */
    private readonly onRemove: () => void,
  ) {
    this.kind = `snapshots/${name}`;
    this.dir = join(backend.root, 'snapshots');
  }

  async init(): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
    await this.cleanup();
  }

  private bucket(ns: string) {
    return this.db.bucket(ns, this.kind);
  }

  private dirOf(id: string) {
    return join(this.dir, id);
  }

  /**
   * `durable: false` leaves the new record and its directory's rename unsynced (no fsync of the
   * directory, no synced commit): for a snapshot nothing needs after a crash (an auto-removed
   * container's, which berthd removes at start-up anyway) whose caller commits a synced change
   * right after, which makes the record durable too (LevelDB's log is one sequence).
   */
  prepare(ns: string, key: string, parent: string, labels: Labels = {}, lease?: string, { durable = true }: { durable?: boolean } = {}): Promise<Mount[]> {
    return this.create(ns, 'active', key, parent, labels, lease, durable);
  }

  view(ns: string, key: string, parent: string, labels: Labels = {}, lease?: string): Promise<Mount[]> {
    return this.create(ns, 'view', key, parent, labels, lease, true);
  }

  private async create(
    ns: string,
    kind: 'active' | 'view',
    key: string,
    parent: string,
    labels: Labels,
    lease: string | undefined,
    durable: boolean,
  ): Promise<Mount[]> {
    if (key === '') throw invalidArgument('snapshot key must not be empty');
    labels = validateLabels(labels);
    // Checked before the (possibly long) filling, and again once the lock is held.
    const parents = await this.checkNew(this.db, ns, key, parent, labels);
    const tmp = join(this.dir, `new-${randomBytes(6).toString('hex')}`);
    this.filling.add(tmp);
    let placed: string | undefined;
    try {
      await fs.mkdir(tmp, { mode: 0o700 });
      const parentDirs = parents.map((id) => this.dirOf(id));
      if (kind === 'active') await this.backend.prepare(tmp, parentDirs);
      else await this.backend.view(tmp, parentDirs);
      const record = await this.db.update(
        async (tx) => {
          await tx.ensureNamespace(ns);
          const now = await this.checkNew(tx, ns, key, parent, labels);
          if (now.join('/') !== parents.join('/')) throw new BerthError('Aborted', `parent snapshot ${parent} changed while ${key} was being created`);
          const id = await this.nextId(tx);
          await fs.rename(tmp, this.dirOf(id));
          placed = this.dirOf(id);
          if (durable) await syncDir(this.dir);
          const at = Date.now();
          const r: SnapshotRecord = { id, kind, parent, labels, createdAt: at, updatedAt: at };
          tx.put(this.bucket(ns), key, r);
          if (lease) await addLeaseResource(tx, ns, lease, { type: this.kind, id: key });
          if (kind === 'active') this.publishOnCommit(tx, ns, '/snapshot/prepare', 'containerd.events.SnapshotPrepare', { key, parent });
          return r;
        },
        { durable },
      );
      placed = undefined; // recorded: the directory is the snapshot's now, whatever happens
      return this.backend.mounts(this.dirs(record, parents));
    } catch (err) {
      if (placed !== undefined) await fs.rm(placed, { recursive: true, force: true }).catch(() => undefined);
      await fs.rm(tmp, { recursive: true, force: true }).catch(() => undefined);
      throw err;
    } finally {
      this.filling.delete(tmp);
    }
  }

  /** The checks of Prepare and View, containerd's errors; returns the parent chain's ids. */
  private async checkNew(reader: Reader, ns: string, key: string, parent: string, labels: Labels): Promise<string[]> {
    const target = labels[snapshotRefLabel];
    if (target && (await reader.get(this.bucket(ns), target))) throw alreadyExists(`target snapshot ${JSON.stringify(target)}`);
    if (await reader.get(this.bucket(ns), key)) throw alreadyExists(`snapshot ${JSON.stringify(key)}`);
    if (parent === '') return [];
    const p = await reader.get<SnapshotRecord>(this.bucket(ns), parent);
    if (!p) throw notFound(`parent snapshot ${parent} does not exist`);
    if (p.kind !== 'committed') throw invalidArgument(`failed to create snapshot: parent ${JSON.stringify(parent)} is not committed snapshot`);
    return this.chain(reader, ns, parent);
  }

  /** The ids of a committed snapshot and its ancestors, nearest first. */
  private async chain(reader: Reader, ns: string, name: string): Promise<string[]> {
    const ids: string[] = [];
    const seen = new Set<string>();
    for (let at = name; at !== ''; ) {
      const r = await reader.get<SnapshotRecord>(this.bucket(ns), at);
      if (!r || seen.has(at)) throw new BerthError('DataLoss', `snapshot chain of ${name} is broken at ${at}`);
      seen.add(at);
      ids.push(r.id);
      at = r.parent;
    }
    return ids;
  }

  /** Hands out the next id of this snapshotter, skipping any whose directory is in the way. */
  private async nextId(tx: Tx): Promise<string> {
    const seq = tx.db.bucket(sequenceScope, sequenceKind);
    let next = (await tx.get<number>(seq, this.name)) ?? 1;
    while (await exists(this.dirOf(String(next)))) next++;
    tx.put(seq, this.name, next + 1);
    return String(next);
  }

  private async get(reader: Reader, ns: string, key: string): Promise<SnapshotRecord> {
    const r = await reader.get<SnapshotRecord>(this.bucket(ns), key);
    if (!r) throw notFound(`snapshot ${key} does not exist`);
    return r;
  }

  private async dirsOf(reader: Reader, ns: string, r: SnapshotRecord): Promise<SnapshotDirs> {
    return this.dirs(r, r.parent === '' ? [] : await this.chain(reader, ns, r.parent));
  }

  private dirs(r: SnapshotRecord, parents: string[]): SnapshotDirs {
    return { kind: r.kind, dir: this.dirOf(r.id), parents: parents.map((id) => this.dirOf(id)) };
  }

  async mounts(ns: string, key: string): Promise<Mount[]> {
    const r = await this.get(this.db, ns, key);
    if (r.kind === 'committed') throw failedPrecondition(`failed to get active mount: requested snapshot ${key} not active or view`);
    return this.backend.mounts(await this.dirsOf(this.db, ns, r));
  }

  /**
   * Turns the active snapshot key into the committed snapshot name, with exactly these labels
   * (an active snapshot's labels are not carried over, as in containerd).
   */
  async commit(ns: string, name: string, key: string, labels: Labels = {}, lease?: string): Promise<void> {
    if (name === '') throw invalidArgument('snapshot name must not be empty');
    labels = validateLabels(labels);
    await this.db.update(async (tx) => {
      if (await tx.get(this.bucket(ns), name)) throw alreadyExists(`snapshot ${JSON.stringify(name)}`);
      const r = await this.get(tx, ns, key);
      if (r.kind !== 'active') throw failedPrecondition(`failed to commit snapshot: snapshot ${JSON.stringify(key)} is not active`);
      const usage = await this.backend.commit(await this.dirsOf(tx, ns, r));
      const at = Date.now();
      tx.del(this.bucket(ns), key);
      tx.put(this.bucket(ns), name, { id: r.id, kind: 'committed', parent: r.parent, labels, createdAt: at, updatedAt: at, usage } satisfies SnapshotRecord);
      await this.dropFromLeases(tx, ns, key);
      if (lease) await addLeaseResource(tx, ns, lease, { type: this.kind, id: name });
      this.publishOnCommit(tx, ns, '/snapshot/commit', 'containerd.events.SnapshotCommit', { key, name });
    });
  }

  /**
   * Puts the active snapshot `key`, prepared without a parent, on the committed snapshot
   * `parent`, and returns its mounts now. Not part of containerd's API: the pull uses it to apply
   * a layer while the layer below is still being applied. Backends without `rebase` refuse.
   */
  async rebase(ns: string, key: string, parent: string): Promise<Mount[]> {
    const backend = this.backend;
    if (!backend.rebase) throw new BerthError('Unimplemented', `snapshotter ${this.name} cannot rebase a snapshot`);
    return this.db.update(async (tx) => {
      const r = await this.get(tx, ns, key);
      if (r.kind !== 'active' || r.parent !== '') throw failedPrecondition(`snapshot ${JSON.stringify(key)} is not an active snapshot without a parent`);
      const p = await tx.get<SnapshotRecord>(this.bucket(ns), parent);
      if (!p) throw notFound(`parent snapshot ${parent} does not exist`);
      if (p.kind !== 'committed') throw invalidArgument(`parent ${JSON.stringify(parent)} is not committed snapshot`);
      const parents = await this.chain(tx, ns, parent);
      const next: SnapshotRecord = { ...r, parent, updatedAt: Date.now() };
      await backend.rebase!(
        this.dirOf(r.id),
        parents.map((id) => this.dirOf(id)),
      );
      tx.put(this.bucket(ns), key, next);
      return backend.mounts(this.dirs(next, parents));
    });
  }

  /** Whether rebase works here. */
  get canRebase(): boolean {
    return this.backend.rebase !== undefined;
  }

  /** Removes the record now; the directory goes with the next collection. */
  async remove(ns: string, key: string): Promise<void> {
    await this.db.update(async (tx) => {
      await this.get(tx, ns, key);
      for (const [, r] of await tx.entries<SnapshotRecord>(this.bucket(ns))) {
        if (r.parent === key) throw failedPrecondition('cannot remove snapshot with child');
      }
      tx.del(this.bucket(ns), key);
      await this.dropFromLeases(tx, ns, key);
      this.publishOnCommit(tx, ns, '/snapshot/remove', 'containerd.events.SnapshotRemove', { key });
    });
    this.onRemove();
  }

  async stat(ns: string, key: string): Promise<SnapshotInfo> {
    return toInfo(key, await this.get(this.db, ns, key));
  }

  /** Updates labels only: mask paths `labels` and `labels.<key>`; no mask replaces them all. */
  async update(ns: string, name: string, labels: Labels, paths: readonly string[]): Promise<SnapshotInfo> {
    if (name === '') throw invalidArgument('snapshot name must not be empty');
    return this.db.update(async (tx) => {
      const r = await this.get(tx, ns, name);
      const next: SnapshotRecord = {
        ...r,
        labels: updateLabels(r.labels, labels ?? {}, paths, (path) => {
          throw invalidArgument(`cannot update ${JSON.stringify(path)} field on snapshot ${JSON.stringify(name)}`);
        }),
        updatedAt: Date.now(),
      };
      tx.put(this.bucket(ns), name, next);
      return toInfo(name, next);
    });
  }

  /** Snapshots of a namespace in key order; filters on kind, name, parent and labels.*. */
  async list(ns: string, filters: readonly string[] = []): Promise<SnapshotInfo[]> {
    const match = parseFilters(filters);
    const out: SnapshotInfo[] = [];
    for await (const [key, r] of this.db.entries<SnapshotRecord>(this.bucket(ns))) {
      if (match(adaptFields({ kind: r.kind, name: key, parent: r.parent }, { labels: r.labels }))) out.push(toInfo(key, r));
    }
    return out;
  }

  async usage(ns: string, key: string): Promise<Usage> {
    const r = await this.get(this.db, ns, key);
    if (r.kind === 'committed') return r.usage ?? { size: 0, inodes: 0 };
    return this.backend.usage(await this.dirsOf(this.db, ns, r));
  }

  /** Removes every directory that no record names (Cleanup, start-up). */
  cleanup(): Promise<void> {
    return this.db.update(() => this.removeOrphans());
  }

  /**
   * The directories no record in any namespace names, and leftover temporary ones, are removed.
   * The caller holds the metadata lock, so no record can appear meanwhile.
   */
  async removeOrphans(): Promise<void> {
    const known = new Set<string>();
    for (const ns of await this.db.listNamespaces()) {
      for await (const [, r] of this.db.entries<SnapshotRecord>(this.bucket(ns))) known.add(r.id);
    }
    for (const name of await fs.readdir(this.dir)) {
      const path = join(this.dir, name);
      if (known.has(name) || this.filling.has(path)) continue;
      // one that cannot go now (busy, say) is tried again at the next collection
      await fs.rm(path, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  /**
   * How the garbage collector sees these snapshots: roots by the gc.root label, references by
   * gc.ref labels, and every snapshot keeps its parent. Leases name them as `snapshots/<name>`.
   */
  gcKind(): CollectibleKind {
    return {
      kind: this.kind,
      scan: async (tx, ns) => {
        const records = await tx.entries<SnapshotRecord>(this.bucket(ns));
        return records.map(([key, r]): GcObject => {
          const refs = labelRefs(r.labels);
          if (r.parent !== '') refs.push({ kind: this.kind, key: r.parent });
          return { key, root: isGcRoot(r.labels), refs };
        });
      },
      remove: async (tx, ns, keys) => {
        for (const key of keys) tx.del(this.bucket(ns), key);
      },
      afterCollect: () => this.removeOrphans(),
    };
  }

  private async dropFromLeases(tx: Tx, ns: string, key: string) {
    for (const [id] of await tx.entries(tx.db.bucket(ns, 'leases'))) {
      await removeLeaseResource(tx, ns, id, { type: this.kind, id: key });
    }
  }

  private publishOnCommit(tx: Tx, ns: string, topic: string, type: string, payload: object) {
    tx.onCommit(() => {
      try {
        this.events.publish(ns, topic, type, { ...payload, snapshotter: this.name });
      } catch {
        // an event that cannot be sent must not undo a committed change
      }
    });
  }
}

const toInfo = (name: string, r: SnapshotRecord): SnapshotInfo => ({
  name,
  parent: r.parent,
  kind: r.kind,
  labels: r.labels,
  createdAt: r.createdAt,
  updatedAt: r.updatedAt,
});
