import { randomBytes } from 'node:crypto';
import { parseDigest } from '../../core/digest.ts';
import { alreadyExists, invalidArgument, notFound, unimplemented } from '../../core/errors.ts';
import { adaptFields, parseFilters } from '../filters.ts';
import { type Labels, validateLabels } from '../labels.ts';
import type { MetadataDB, Tx } from '../metadata/db.ts';

export interface LeaseResource {
  id: string;
  /** 'content', 'ingests' or 'snapshots/<snapshotter>' */
  type: string;
}

export interface Lease {
  id: string;
  labels: Labels;
  createdAt: number;
}

interface LeaseRecord {
  labels: Labels;
  createdAt: number;
  resources: LeaseResource[];
}

export const expireLabel = 'containerd.io/gc.expire';
export const flatLabel = 'containerd.io/gc.flat';

/**
 * Leases hold resources (blobs, ingests, snapshots) back from garbage collection while a client
 * works with them, e.g. for the length of a pull. Other stores add what they create under a lease
 * through addResource() inside their own transaction.
 */
export class LeaseStore {
  constructor(
    private readonly db: MetadataDB,
    private readonly onDelete: (sync: boolean) => Promise<void>,
  ) {}

  private bucket(ns: string) {
    return this.db.bucket(ns, 'leases');
  }

  /** An empty id gets a random one, as containerd's lease service does. */
  create(ns: string, id: string, labels: Labels = {}): Promise<Lease> {
    if (id === '') id = randomLeaseId();
    labels = validateLabels(labels);
    // not synced: it holds nothing yet, and the commit that adds something to it is (and makes the
    // lease durable with it, LevelDB's log being one sequence)
    return this.db.update(
      async (tx) => {
        await tx.ensureNamespace(ns);
        if (await tx.get(this.bucket(ns), id)) throw alreadyExists(`lease ${JSON.stringify(id)}`);
        const record: LeaseRecord = { labels, createdAt: Date.now(), resources: [] };
        tx.put(this.bucket(ns), id, record);
        return { id, labels, createdAt: record.createdAt };
      },
      { durable: false },
    );
  }

  async delete(ns: string, id: string, sync = false): Promise<void> {
    // not synced: undone by a crash, the lease holds its resources until it expires, nothing worse
    await this.db.update(
      async (tx) => {
        if (!(await tx.get(this.bucket(ns), id))) throw notFound(`lease ${JSON.stringify(id)}`);
        tx.del(this.bucket(ns), id);
      },
      { durable: false },
    );
    await this.onDelete(sync);
  }

  async list(ns: string, filters: readonly string[] = []): Promise<Lease[]> {
    const match = parseFilters(filters);
    const out: Lease[] = [];
    for await (const [id, r] of this.db.entries<LeaseRecord>(this.bucket(ns))) {
      if (match(adaptFields({ id }, { labels: r.labels }))) out.push({ id, labels: r.labels, createdAt: r.createdAt });
    }
    return out;
  }

  addResource(ns: string, id: string, resource: LeaseResource): Promise<void> {
    return this.db.update((tx) => addLeaseResource(tx, ns, id, resource));
  }

  deleteResource(ns: string, id: string, resource: LeaseResource): Promise<void> {
    const key = checkResource(resource);
    return this.db.update(async (tx) => {
      const record = await tx.get<LeaseRecord>(this.bucket(ns), id);
      if (!record) throw notFound(`lease ${JSON.stringify(id)}`);
      const resources = record.resources.filter((r) => !(r.type === key.type && r.id === key.id));
      tx.put(this.bucket(ns), id, { ...record, resources });
    });
  }

  async listResources(ns: string, id: string): Promise<LeaseResource[]> {
    const record = await this.db.get<LeaseRecord>(this.bucket(ns), id);
    if (!record) throw notFound(`lease ${JSON.stringify(id)}`);
    return record.resources;
  }

  /** Every lease of a namespace with its resources, for the garbage collector. */
  static async all(tx: Tx, ns: string): Promise<Array<Lease & { resources: LeaseResource[] }>> {
    const entries = await tx.entries<LeaseRecord>(tx.db.bucket(ns, 'leases'));
    return entries.map(([id, r]) => ({ id, ...r }));
  }

  static remove(tx: Tx, ns: string, id: string) {
    tx.del(tx.db.bucket(ns, 'leases'), id);
  }
}

/** Adds a resource to a lease as part of a larger transaction (e.g. a content commit). */
export async function addLeaseResource(tx: Tx, ns: string, leaseId: string, resource: LeaseResource): Promise<void> {
  const key = checkResource(resource);
  const bucket = tx.db.bucket(ns, 'leases');
  const record = await tx.get<LeaseRecord>(bucket, leaseId);
  if (!record) throw notFound(`lease ${JSON.stringify(leaseId)} does not exist`);
  if (record.resources.some((r) => r.type === key.type && r.id === key.id)) return;
  tx.put(bucket, leaseId, { ...record, resources: [...record.resources, key] });
}

export async function removeLeaseResource(tx: Tx, ns: string, leaseId: string, resource: LeaseResource): Promise<void> {
  const bucket = tx.db.bucket(ns, 'leases');
  const record = await tx.get<LeaseRecord>(bucket, leaseId);
  if (!record) return;
  const resources = record.resources.filter((r) => !(r.type === resource.type && r.id === resource.id));
  if (resources.length !== record.resources.length) tx.put(bucket, leaseId, { ...record, resources });
}

function randomLeaseId(): string {
  const nanos = process.hrtime.bigint() % 1_000_000_000n;
  return `${nanos}-${randomBytes(3).toString('base64url')}`;
}

function checkResource(r: LeaseResource): LeaseResource {
  const parts = r.type.split('/');
  switch (parts[0]) {
    case 'content':
    case 'ingests':
      if (parts.length !== 1) throw invalidArgument(`invalid resource type ${r.type}`);
      if (parts[0] === 'content') {
        try {
          parseDigest(r.id);
        } catch (err) {
          throw invalidArgument(`invalid content resource id ${r.id}: ${(err as Error).message}`);
        }
      }
      return { id: r.id, type: r.type };
    case 'snapshots':
      if (parts.length !== 2 || parts[1] === '') throw invalidArgument(`invalid resource type ${r.type}`);
      return { id: r.id, type: r.type };
    default:
      throw unimplemented(`resource type ${r.type} not supported yet`);
  }
}
