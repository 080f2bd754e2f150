import { alreadyExists, failedPrecondition, invalidArgument, notFound } from '../../core/errors.ts';
import { validateIdentifier } from '../../core/identifiers.ts';
import type { Exchange } from '../events/exchange.ts';
import { type Labels, updateLabels, validateLabels } from '../labels.ts';
import type { MetadataDB, NamespaceRecord } from '../metadata/db.ts';

export interface Namespace {
  name: string;
  labels: Labels;
}

// How containerd names what is left in a namespace that cannot be deleted.
const kindNames: Record<string, string> = { content: 'blobs', ingests: 'ingests', leases: 'leases', images: 'images', containers: 'containers' };
const describeKind = (kind: string) =>
  kind.startsWith('snapshots/') ? `snapshots on ${JSON.stringify(kind.slice('snapshots/'.length))} snapshotter` : (kindNames[kind] ?? kind);

export class NamespaceStore {
  constructor(
    private readonly db: MetadataDB,
    private readonly events: Exchange,
  ) {}

  create(name: string, labels: Labels = {}): Promise<Namespace> {
    validateIdentifier(name);
    labels = validateLabels(labels);
    return this.db.update(async (tx) => {
      if (await tx.get(this.db.namespaces, name)) throw alreadyExists(`namespace ${JSON.stringify(name)}`);
      tx.put(this.db.namespaces, name, { labels, createdAt: Date.now() } satisfies NamespaceRecord);
      tx.onCommit(() => this.events.publish(name, '/namespaces/create', 'containerd.events.NamespaceCreate', { name, labels }));
      return { name, labels };
    });
  }

  /** Like containerd, a namespace that does not exist reads as one without labels. */
  async get(name: string): Promise<Namespace> {
    const r = await this.db.get<NamespaceRecord>(this.db.namespaces, name);
    return { name, labels: r?.labels ?? {} };
  }

  async list(): Promise<Namespace[]> {
    return this.db.namespaceRecords().map(([name, r]) => ({ name, labels: r.labels }));
  }

  /** Updates labels (mask paths `labels` / `labels.<key>`); creates the namespace if needed. */
  update(name: string, labels: Labels, paths: readonly string[]): Promise<Namespace> {
    validateIdentifier(name);
    return this.db.update(async (tx) => {
      const r = (await tx.get<NamespaceRecord>(this.db.namespaces, name)) ?? { labels: {}, createdAt: Date.now() };
      const next = updateLabels(r.labels, labels, paths, (p) => {
        throw invalidArgument(`cannot update ${JSON.stringify(p)} field on namespace ${JSON.stringify(name)}`);
      });
      tx.put(this.db.namespaces, name, { ...r, labels: next });
      tx.onCommit(() => this.events.publish(name, '/namespaces/update', 'containerd.events.NamespaceUpdate', { name, labels: next }));
      return { name, labels: next };
    });
  }

  delete(name: string): Promise<void> {
    validateIdentifier(name);
    return this.db.update(async (tx) => {
      if (!(await tx.get(this.db.namespaces, name))) throw notFound(`namespace ${name}`);
      const left = await this.db.kindsIn(name);
      if (left.length > 0) {
        throw failedPrecondition(`namespace ${JSON.stringify(name)} must be empty, but it still has ${left.map(describeKind).join(', ')}`);
      }
      tx.del(this.db.namespaces, name);
      tx.onCommit(() => this.events.publish(name, '/namespaces/delete', 'containerd.events.NamespaceDelete', { name }));
    });
  }
}
