import { createHash, type Hash } from 'node:crypto';
import { promises as fs, constants as fsc } from 'node:fs';
import { join } from 'node:path';
import { parseDigest } from '../../core/digest.ts';
import { alreadyExists, BerthError, failedPrecondition, invalidArgument, notFound, unavailable } from '../../core/errors.ts';
import type { Exchange } from '../events/exchange.ts';
import { adaptFields, parseFilters } from '../filters.ts';
import { exists, syncDir } from '../fsutil.ts';
import { type Labels, updateLabels, validateLabels } from '../labels.ts';
import { addLeaseResource, removeLeaseResource } from '../leases/store.ts';
import type { MetadataDB, Tx } from '../metadata/db.ts';

export interface ContentInfo {
  digest: string;
  size: number;
  createdAt: number;
  updatedAt: number;
  labels: Labels;
}

export interface IngestStatus {
  ref: string;
  offset: number;
  total: number;
  expected: string;
  startedAt: number;
  updatedAt: number;
}

export interface WriterOptions {
  ref: string;
  /** expected size, 0 when unknown */
  total?: number;
  /** expected digest, '' when unknown */
  expected?: string;
  /** lease that will hold the ingest and the committed blob */
  lease?: string;
}

/** Per-namespace record of a blob. The bytes live once on disk, shared by all namespaces. */
interface ContentRecord {
  size: number;
  labels: Labels;
  createdAt: number;
  updatedAt: number;
}

/** Per-namespace record of an ingest in progress. */
interface IngestRecord {
  /** directory name under <root>/content/ingest */
  dir: string;
  startedAt: number;
  total: number;
  /** set when committing will only link a blob that another namespace already has */
  shared?: { digest: string; size: number };
  /** an ingest held by no lease is abandoned after this time (ms since epoch) */
  expiresAt?: number;
}

const ingestLifetime = 24 * 3600 * 1000;
const readChunk = 1 << 20;

/**
 * The content store: blobs by digest under <root>/blobs/sha256/<hex>, written through ingests
 * (<root>/ingest/<id>/data) that stay invisible until they are committed, verified and renamed
 * into place. Which blobs a namespace can see is recorded in the metadata database.
 */
export class ContentStore {
  private readonly blobDir: string;
  private readonly ingestDir: string;
  private readonly locks = new Map<string, number>();

  constructor(
    readonly root: string,
    readonly db: MetadataDB,
    private readonly events: Exchange,
    private readonly onDelete: () => void,
  ) {
    this.blobDir = join(root, 'blobs', 'sha256');
    this.ingestDir = join(root, 'ingest');
  }

  async init(): Promise<void> {
    await fs.mkdir(this.blobDir, { recursive: true, mode: 0o700 });
    await fs.mkdir(this.ingestDir, { recursive: true, mode: 0o700 });
    await this.removeOrphanIngests();
  }

  blobPath(digest: string): string {
    const d = parseDigest(digest);
    if (d.algorithm !== 'sha256') throw invalidArgument(`unsupported digest algorithm ${d.algorithm}`);
    return join(this.blobDir, d.hex);
  }

  private contentBucket(ns: string) {
    return this.db.bucket(ns, 'content');
  }

  private ingestBucket(ns: string) {
    return this.db.bucket(ns, 'ingests');
  }

  async info(ns: string, digest: string): Promise<ContentInfo> {
    parseDigest(digest);
    const r = await this.db.get<ContentRecord>(this.contentBucket(ns), digest);
    if (!r) throw notFound(`content digest ${digest}`);
    return { digest, ...r };
  }

  async update(ns: string, digest: string, labels: Labels, paths: readonly string[]): Promise<ContentInfo> {
    parseDigest(digest);
    return this.db.update(async (tx) => {
      const r = await tx.get<ContentRecord>(this.contentBucket(ns), digest);
      if (!r) throw notFound(`content digest ${digest}`);
      const next: ContentRecord = {
        ...r,
        labels: updateLabels(r.labels, labels, paths, (p) => {
          throw invalidArgument(`cannot update ${JSON.stringify(p)} field on content info ${JSON.stringify(digest)}`);
        }),
        updatedAt: Date.now(),
      };
      tx.put(this.contentBucket(ns), digest, next);
      return { digest, ...next };
    });
  }

  async list(ns: string, filters: readonly string[] = []): Promise<ContentInfo[]> {
    const match = parseFilters(filters);
    const out: ContentInfo[] = [];
    for await (const [digest, r] of this.db.entries<ContentRecord>(this.contentBucket(ns))) {
      if (match(adaptFields({ digest, size: String(r.size) }, { labels: r.labels }))) out.push({ digest, ...r });
    }
    return out;
  }

  async delete(ns: string, digest: string): Promise<void> {
    parseDigest(digest);
    await this.db.update(async (tx) => {
      if (!(await tx.get(this.contentBucket(ns), digest))) throw notFound(`content digest ${digest}`);
      tx.del(this.contentBucket(ns), digest);
      tx.onCommit(() => this.events.publish(ns, '/content/delete', 'containerd.events.ContentDelete', { digest }));
    });
    // The bytes go when no namespace refers to them any more: that is the collector's call.
    this.onDelete();
  }

  /** Where to read a blob from, after checking the namespace may see it. */
  async reader(ns: string, digest: string): Promise<{ path: string; size: number }> {
    const info = await this.info(ns, digest);
    return { path: this.blobPath(digest), size: info.size };
  }

  /** Reads [offset, offset+size) of a blob in chunks of at most 1 MiB; size <= 0 reads to the end. */
  async *read(ns: string, digest: string, offset = 0, size = 0): AsyncGenerator<{ offset: number; data: Buffer }> {
    const blob = await this.reader(ns, digest);
    if (offset < 0 || offset > blob.size) throw new BerthError('OutOfRange', `read of ${digest} at offset ${offset} past object length ${blob.size}`);
    const end = size <= 0 || offset + size > blob.size ? blob.size : offset + size;
    const fh = await fs.open(blob.path, 'r');
    try {
      for (let at = offset; at < end; ) {
        const buf = Buffer.allocUnsafe(Math.min(readChunk, end - at));
        const { bytesRead } = await fh.read(buf, 0, buf.length, at);
        if (bytesRead === 0) throw new BerthError('DataLoss', `blob ${digest} is shorter than its recorded size`);
        yield { offset: at, data: buf.subarray(0, bytesRead) };
        at += bytesRead;
      }
    } finally {
      await fh.close();
    }
  }

  async status(ns: string, ref: string): Promise<IngestStatus> {
    const r = await this.db.get<IngestRecord>(this.ingestBucket(ns), ref);
    if (!r) throw notFound(`ingest ${JSON.stringify(ref)}`);
    return this.ingestStatus(ref, r);
  }

  async listStatuses(ns: string, filters: readonly string[] = []): Promise<IngestStatus[]> {
    const match = parseFilters(filters);
    const out: IngestStatus[] = [];
    for await (const [ref, r] of this.db.entries<IngestRecord>(this.ingestBucket(ns))) {
      if (match(adaptFields({ ref }))) out.push(await this.ingestStatus(ref, r));
    }
    return out;
  }

  async abort(ns: string, ref: string): Promise<void> {
    await this.db.update(async (tx) => {
      const r = await tx.get<IngestRecord>(this.ingestBucket(ns), ref);
      if (!r) throw notFound(`ingest ref ${JSON.stringify(ref)}`);
      tx.del(this.ingestBucket(ns), ref);
      await this.dropIngestLeases(tx, ns, ref);
      tx.onCommit(() => void fs.rm(join(this.ingestDir, r.dir), { recursive: true, force: true }));
    });
  }

  private async dropIngestLeases(tx: Tx, ns: string, ref: string) {
    for (const [id] of await tx.entries(tx.db.bucket(ns, 'leases'))) {
      await removeLeaseResource(tx, ns, id, { type: 'ingests', id: ref });
    }
  }

  private async ingestStatus(ref: string, r: IngestRecord): Promise<IngestStatus> {
    if (r.shared) {
      return { ref, offset: r.shared.size, total: r.shared.size, expected: r.shared.digest, startedAt: r.startedAt, updatedAt: r.startedAt };
    }
    const st = await fs.stat(join(this.ingestDir, r.dir, 'data')).catch(() => undefined);
    return { ref, offset: st?.size ?? 0, total: r.total, expected: '', startedAt: r.startedAt, updatedAt: st?.mtimeMs ?? r.startedAt };
  }

  /**
   * Opens (or resumes) the ingest named by ref. Only one writer may hold a ref at a time; a
   * second one gets Unavailable. If the expected blob is already in this namespace the result
   * is AlreadyExists; if only another namespace has it, the writer starts complete.
   */
  async writer(ns: string, opts: WriterOptions): Promise<Writer> {
    const { ref } = opts;
    if (ref === '') throw invalidArgument('ref must not be empty');
    if (opts.expected) parseDigest(opts.expected);
    const lockKey = `${ns}\0${ref}`;
    const lockedAt = this.locks.get(lockKey);
    if (lockedAt !== undefined) {
      throw unavailable(`ref ${ref} locked for ${Math.round((Date.now() - lockedAt) / 1000)}s (since ${new Date(lockedAt).toISOString()})`);
    }
    this.locks.set(lockKey, Date.now());
    try {
      const expected = opts.expected ?? '';
      let exists = false;
      const record = await this.db.update(async (tx) => {
        await tx.ensureNamespace(ns);
        if (expected && (await tx.get(this.contentBucket(ns), expected))) {
          if (opts.lease) await addLeaseResource(tx, ns, opts.lease, { type: 'content', id: expected });
          exists = true;
          return undefined;
        }
        let r = await tx.get<IngestRecord>(this.ingestBucket(ns), ref);
        if (!r) {
          r = { dir: createHash('sha256').update(lockKey).digest('hex'), startedAt: Date.now(), total: opts.total ?? 0 };
        } else if (opts.total) {
          r = { ...r, total: opts.total };
        }
        const shared = expected ? await this.sharedBlob(expected, opts.total ?? 0) : undefined;
        r = shared ? { ...r, shared } : { ...r, shared: undefined };
        if (opts.lease) {
          await addLeaseResource(tx, ns, opts.lease, { type: 'ingests', id: ref });
          r.expiresAt = undefined;
        } else {
          r.expiresAt = Date.now() + ingestLifetime;
        }
        tx.put(this.ingestBucket(ns), ref, r);
        return r;
      });
      if (exists || !record) throw alreadyExists(`content ${expected}`);
      const w = new Writer(this, ns, ref, record, opts.lease, () => this.locks.delete(lockKey));
      await w.open(join(this.ingestDir, record.dir));
      return w;
    } catch (err) {
      this.locks.delete(lockKey);
      throw err;
    }
  }

  /** A blob that is on disk because some namespace has it, if its size agrees. */
  private async sharedBlob(digest: string, size: number): Promise<{ digest: string; size: number } | undefined> {
    const st = await fs.stat(this.blobPath(digest)).catch(() => undefined);
    if (!st || (size !== 0 && size !== st.size)) return undefined;
    return { digest, size: st.size };
  }

  /** Moves a verified ingest into place and records it in the namespace. */
  async commitIngest(w: Writer, size: number, expected: string, labels: Labels): Promise<string> {
    labels = validateLabels(labels);
    const { ns, ref, record } = w;
    let digest: string;
    if (record.shared) {
      digest = record.shared.digest;
      if (size > 0 && size !== record.shared.size) throw failedPrecondition(`unexpected commit size ${record.shared.size}, expected ${size}`);
      if (expected && expected !== digest) throw failedPrecondition(`unexpected commit digest ${digest}, expected ${expected}`);
    } else {
      digest = await w.finish(size, expected);
    }
    let already = false;
    // Placing the bytes and recording them happen under the metadata lock, so the collector
    // (which holds the same lock) never sees a blob between the two steps.
    await this.db.update(async (tx) => {
      const target = this.blobPath(digest);
      if (record.shared) {
        if (!(await exists(target))) throw notFound(`content ${digest} was removed while being linked`);
      } else if (await exists(target)) {
        await fs.rm(w.dataPath, { force: true });
      } else {
        await fs.rename(w.dataPath, target);
        await syncDir(this.blobDir);
      }
      tx.del(this.ingestBucket(ns), ref);
      await this.dropIngestLeases(tx, ns, ref);
      if (w.lease) await addLeaseResource(tx, ns, w.lease, { type: 'content', id: digest });
      if (await tx.get(this.contentBucket(ns), digest)) {
        already = true;
        return;
      }
      const now = Date.now();
      const bytes = record.shared ? record.shared.size : w.offset;
      tx.put(this.contentBucket(ns), digest, { size: bytes, labels, createdAt: now, updatedAt: now } satisfies ContentRecord);
    });
    await fs.rm(join(this.ingestDir, record.dir), { recursive: true, force: true });
    if (already) throw alreadyExists(`content ${digest}`);
    return digest;
  }

  /** Blob files that exist on disk (hex digests), for the collector. */
  async blobsOnDisk(): Promise<string[]> {
    return (await fs.readdir(this.blobDir)).filter((n) => /^[a-f0-9]{64}$/.test(n)).map((hex) => `sha256:${hex}`);
  }

  async removeBlob(digest: string): Promise<void> {
    await fs.rm(this.blobPath(digest), { force: true });
  }

  removeIngestDir(dir: string): Promise<void> {
    return fs.rm(join(this.ingestDir, dir), { recursive: true, force: true });
  }

  isLocked(ns: string, ref: string): boolean {
    return this.locks.has(`${ns}\0${ref}`);
  }

  /** Ingest directories that no namespace records (left by a crash) are removed at start-up. */
  private async removeOrphanIngests() {
    const known = new Set<string>();
    for (const ns of await this.db.listNamespaces()) {
      for await (const [, r] of this.db.entries<IngestRecord>(this.ingestBucket(ns))) known.add(r.dir);
    }
    for (const dir of await fs.readdir(this.ingestDir)) {
      if (!known.has(dir)) await fs.rm(join(this.ingestDir, dir), { recursive: true, force: true });
    }
  }
}

export type { IngestRecord };

/** One open ingest. Writes are append-only at the current offset; the digest is kept running. */
export class Writer {
  private fh: fs.FileHandle | undefined;
  private hash: Hash = createHash('sha256');
  offset = 0;
  dataPath = '';
  private dir = '';
  private closed = false;

  constructor(
    private readonly store: ContentStore,
    readonly ns: string,
    readonly ref: string,
    readonly record: IngestRecord,
    readonly lease: string | undefined,
    private readonly unlock: () => void,
  ) {}

  async open(dir: string) {
    this.dir = dir;
    if (this.record.shared) return;
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    this.dataPath = join(dir, 'data');
    this.fh = await fs.open(this.dataPath, fsc.O_RDWR | fsc.O_CREAT, 0o600);
    // Node cannot persist a hash state, so a resumed ingest is hashed again from its data.
    const size = (await this.fh.stat()).size;
    const buf = Buffer.allocUnsafe(Math.min(size, readChunk) || 1);
    for (let at = 0; at < size; ) {
      const { bytesRead } = await this.fh.read(buf, 0, Math.min(buf.length, size - at), at);
      if (bytesRead === 0) break;
      this.hash.update(buf.subarray(0, bytesRead));
      at += bytesRead;
    }
    this.offset = size;
  }

  status(): IngestStatus {
    if (this.record.shared) {
      const { digest, size } = this.record.shared;
      return { ref: this.ref, offset: size, total: size, expected: digest, startedAt: this.record.startedAt, updatedAt: this.record.startedAt };
    }
    return { ref: this.ref, offset: this.offset, total: this.record.total, expected: '', startedAt: this.record.startedAt, updatedAt: Date.now() };
  }

  /** The file that holds the bytes written so far (the blob itself while the writer shares it). */
  bytesPath(): string {
    return this.record.shared ? this.store.blobPath(this.record.shared.digest) : this.dataPath;
  }

  digest(): string {
    if (this.record.shared) return this.record.shared.digest;
    return `sha256:${this.hash.copy().digest('hex')}`;
  }

  /**
   * A writer that started complete because another namespace has the blob becomes an ordinary
   * ingest as soon as the client writes: from nothing after a truncate, or from a copy of the
   * blob when it appends, as containerd's namespaced writer does.
   */
  private async unshare(copy: boolean): Promise<void> {
    const shared = this.record.shared;
    if (!shared) return;
    this.record.shared = undefined;
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
    const data = join(this.dir, 'data');
    if (copy) {
      await fs.copyFile(this.store.blobPath(shared.digest), data);
      await fs.chmod(data, 0o600);
    } else await fs.rm(data, { force: true });
    await this.open(this.dir);
  }

  async write(data: Uint8Array): Promise<void> {
    if (data.length === 0) return;
    await this.unshare(true);
    const { bytesWritten } = await this.fh!.write(data, 0, data.length, this.offset);
    this.hash.update(data.subarray(0, bytesWritten));
    this.offset += bytesWritten;
    if (bytesWritten !== data.length) throw new BerthError('DataLoss', `wrote ${bytesWritten} of ${data.length} bytes`);
  }

  async truncate(): Promise<void> {
    if (this.record.shared) return this.unshare(false);
    await this.fh!.truncate(0);
    this.hash = createHash('sha256');
    this.offset = 0;
  }

  commit(size: number, expected: string, labels: Labels): Promise<string> {
    return this.store.commitIngest(this, size, expected, labels);
  }

  /** Syncs the data and checks it against the expected size and digest. */
  async finish(size: number, expected: string): Promise<string> {
    await this.fh!.sync();
    if (size > 0 && size !== this.offset) throw failedPrecondition(`unexpected commit size ${this.offset}, expected ${size}`);
    const digest = this.digest();
    if (expected && expected !== digest) throw failedPrecondition(`unexpected commit digest ${digest}, expected ${expected}`);
    await this.fh!.chmod(0o444);
    await this.fh!.close();
    this.fh = undefined;
    return digest;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.fh?.close().catch(() => undefined);
    this.unlock();
  }
}
