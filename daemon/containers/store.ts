import type { AnyMessage } from '../../core/any.ts';
import { alreadyExists, BerthError, invalidArgument, notFound } from '../../core/errors.ts';
import { validateIdentifier } from '../../core/identifiers.ts';
import type { Exchange } from '../events/exchange.ts';
import { adaptFields, parseFilters } from '../filters.ts';
import { type CollectibleKind, type GcRef, labelRefs } from '../gc/collector.ts';
import type { Labels } from '../labels.ts';
import type { MetadataDB } from '../metadata/db.ts';

/** A google.protobuf.Any kept verbatim: the bytes a client sent are the bytes it reads back. */
export interface AnyValue {
  typeUrl: string;
  value: Buffer;
}

export interface Runtime {
  name: string;
  options?: AnyValue;
}

/** A container: metadata only (what to run and where); the running part is a task. */
export interface Container {
  id: string;
  labels: Labels;
  image: string;
  runtime: Runtime;
  /** the OCI runtime spec, normally JSON under containerd's Spec type URL */
  spec?: AnyValue;
  snapshotter: string;
  snapshotKey: string;
  extensions: Record<string, AnyValue>;
  sandbox: string;
  createdAt: number;
  updatedAt: number;
}

export type ContainerInput = Omit<Container, 'createdAt' | 'updatedAt'>;

/** Any in a JSON record: the value as base64. */
interface AnyRecord {
  typeUrl: string;
  value: string;
}

/** The record in bucket `containers`, keyed by the container's id. */
interface ContainerRecord {
  labels: Labels;
  image: string;
  runtime: { name: string; options?: AnyRecord };
  spec?: AnyRecord;
  snapshotter: string;
  snapshotKey: string;
  extensions: Record<string, AnyRecord>;
  sandbox: string;
  createdAt: number;
  updatedAt: number;
}

export type Collect = (sync: boolean) => Promise<void>;

const bucketName = 'containers';
const eventType = (what: 'Create' | 'Update' | 'Delete') => `containerd.events.Container${what}`;
const maxLabelSize = 4096;

// The mask paths a container update accepts, and what an empty mask replaces.
const replaceAll = ['labels', 'spec', 'extensions', 'image', 'snapshotkey'];

export const anyFromMessage = (m: AnyMessage | null | undefined): AnyValue | undefined =>
  m ? { typeUrl: m.type_url, value: Buffer.from(m.value ?? []) } : undefined;
export const anyToMessage = (a: AnyValue | undefined): AnyMessage | null => (a ? { type_url: a.typeUrl, value: a.value } : null);

const anyToRecord = (a: AnyValue): AnyRecord => ({ typeUrl: a.typeUrl, value: a.value.toString('base64') });
const anyFromRecord = (a: AnyRecord): AnyValue => ({ typeUrl: a.typeUrl, value: Buffer.from(a.value, 'base64') });
const mapValues = <A, B>(m: Record<string, A>, fn: (a: A) => B): Record<string, B> => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, fn(v)]));

/**
 * The container store, containerd's metadata container store: per namespace, id → image name,
 * runtime, spec, snapshot and labels. Containers are garbage-collection roots; each keeps its
 * snapshot, its image, and whatever its gc.ref labels name.
 */
export class ContainerStore {
  constructor(
    private readonly db: MetadataDB,
    private readonly events: Exchange,
    private readonly collect: Collect,
  ) {}

  private bucket(ns: string) {
    return this.db.bucket(ns, bucketName);
  }

  async get(ns: string, id: string): Promise<Container> {
    const r = await this.db.get<ContainerRecord>(this.bucket(ns), id);
    if (!r) throw notFound(`container ${JSON.stringify(id)} in namespace ${JSON.stringify(ns)}`);
    return fromRecord(id, r);
  }

  async list(ns: string, filters: readonly string[] = []): Promise<Container[]> {
    let match: ReturnType<typeof parseFilters>;
    try {
      match = parseFilters(filters);
    } catch (err) {
      // containerd wraps the parse error (which already ends in the class) in the class again
      throw err instanceof BerthError ? invalidArgument(`${err.message}: invalid argument`) : err;
    }
    const out: Container[] = [];
    for await (const [id, r] of this.db.entries<ContainerRecord>(this.bucket(ns))) {
      // like containerd's adaptor, an empty field is an absent one
      const some = (s: string) => (s === '' ? undefined : s);
      const fields = adaptFields({ id: some(id), image: some(r.image) }, { labels: r.labels, runtime: r.runtime.name === '' ? {} : { name: r.runtime.name } });
      if (match(fields)) out.push(fromRecord(id, r));
    }
    return out;
  }

  async create(ns: string, container: ContainerInput): Promise<Container> {
    try {
      validate(container);
    } catch (err) {
      throw wrap(err, 'create container failed validation');
    }
    return this.db.update(async (tx) => {
      await tx.ensureNamespace(ns);
      if (await tx.get(this.bucket(ns), container.id)) throw alreadyExists(`container ${JSON.stringify(container.id)}`);
      const now = Date.now();
      const created = { ...container, labels: withoutEmpty(container.labels), createdAt: now, updatedAt: now };
      tx.put(this.bucket(ns), container.id, toRecord(created));
      tx.onCommit(() =>
        this.events.publish(ns, '/containers/create', eventType('Create'), {
          id: created.id,
          image: created.image,
          runtime: { name: created.runtime.name, options: anyToMessage(created.runtime.options) },
        }),
      );
      return created;
    });
  }

  /**
   * Changes a container. The paths are `labels`, `labels.<key>`, `spec`, `extensions`,
   * `extensions.<key>`, `image` and `snapshotkey`. With none, all of those are replaced, and the
   * snapshotter and runtime name (which cannot change) must be the stored ones.
   */
  async update(ns: string, container: ContainerInput, paths: readonly string[] = []): Promise<Container> {
    const { id } = container;
    if (id === '') throw invalidArgument('must specify a container id');
    return this.db.update(async (tx) => {
      const r = await tx.get<ContainerRecord>(this.bucket(ns), id);
      if (!r) {
        // containerd's wording differs when the namespace has no containers bucket
        const some = await this.hasAny(ns);
        throw notFound(some ? `container ${JSON.stringify(id)}` : `cannot update container ${JSON.stringify(id)} in namespace ${JSON.stringify(ns)}`);
      }
      const current = fromRecord(id, r);
      const next: Container = { ...current, labels: { ...current.labels }, extensions: { ...current.extensions } };
      if (paths.length === 0) {
        if (current.snapshotter !== container.snapshotter) throw invalidArgument('container.Snapshotter field is immutable');
        if (current.runtime.name !== container.runtime.name) throw invalidArgument('container.Runtime.Name field is immutable');
        paths = replaceAll;
      }
      for (const path of paths) {
        if (path.startsWith('labels.')) {
          const key = path.slice('labels.'.length);
          next.labels[key] = Object.hasOwn(container.labels, key) ? container.labels[key] : '';
        } else if (path.startsWith('extensions.')) {
          // containerd stores an empty Any for a key the request lacks; berth drops the key
          const key = path.slice('extensions.'.length);
          if (Object.hasOwn(container.extensions, key)) next.extensions[key] = container.extensions[key];
          else delete next.extensions[key];
        } else if (path === 'labels') next.labels = { ...container.labels };
        else if (path === 'spec') next.spec = container.spec;
        else if (path === 'extensions') next.extensions = { ...container.extensions };
        else if (path === 'image') next.image = container.image;
        else if (path === 'snapshotkey') next.snapshotKey = container.snapshotKey;
        else throw invalidArgument(`cannot update ${JSON.stringify(path)} field on ${JSON.stringify(id)}`);
      }
      try {
        validate(next);
      } catch (err) {
        throw wrap(err, 'update failed validation');
      }
      const updated = { ...next, labels: withoutEmpty(next.labels), updatedAt: Date.now() };
      tx.put(this.bucket(ns), id, toRecord(updated));
      tx.onCommit(() =>
        this.events.publish(ns, '/containers/update', eventType('Update'), {
          id,
          image: updated.image,
          labels: updated.labels,
          snapshot_key: updated.snapshotKey,
        }),
      );
      return updated;
    });
  }

  /** Deletes a container; its snapshot goes with the next collection unless something else holds it. */
  async delete(ns: string, id: string): Promise<void> {
    await this.db.update(async (tx) => {
      if (!(await tx.get(this.bucket(ns), id))) {
        // containerd's own wording, unquoted id included
        throw notFound((await this.hasAny(ns)) ? `container ${id}` : `cannot delete container ${JSON.stringify(id)} in namespace ${JSON.stringify(ns)}`);
      }
      tx.del(this.bucket(ns), id);
      tx.onCommit(() => this.events.publish(ns, '/containers/delete', eventType('Delete'), { id }));
    });
    await this.collect(false);
  }

  private async hasAny(ns: string): Promise<boolean> {
    for await (const _ of this.db.entries(this.bucket(ns))) return true;
    return false;
  }

  /** Every container is a root; it refers to its snapshot, its image and what its gc.ref labels name. */
  gcKind(): CollectibleKind {
    return {
      kind: bucketName,
      async scan(tx, ns) {
        const records = await tx.entries<ContainerRecord>(tx.db.bucket(ns, bucketName));
        return records.map(([id, r]) => {
          const refs: GcRef[] = [];
          if (r.snapshotter !== '') refs.push({ kind: `snapshots/${r.snapshotter}`, key: r.snapshotKey });
          if (r.image !== '') refs.push({ kind: 'images', key: r.image });
          refs.push(...labelRefs(r.labels));
          return { key: id, root: true, refs };
        });
      },
      // roots are never collected
      async remove() {},
    };
  }
}

/** containerd's validateContainer, in its order and with its messages. */
function validate(c: ContainerInput) {
  try {
    validateIdentifier(c.id);
  } catch (err) {
    throw wrap(err, 'container.ID');
  }
  for (const key of Object.keys(c.extensions)) {
    if (key === '') throw invalidArgument('container.Extension keys must not be zero-length');
  }
  for (const [key, value] of Object.entries(c.labels)) {
    if (Buffer.byteLength(key) + Buffer.byteLength(value) > maxLabelSize) {
      const shown = Buffer.byteLength(key) > 10 ? Buffer.from(key).subarray(0, 10).toString() : key;
      throw invalidArgument(`containers.Labels: label key and value greater than maximum size (${maxLabelSize} bytes), key: ${shown}`);
    }
  }
  if (c.runtime.name === '') throw invalidArgument('container.Runtime.Name must be set');
  if (!c.spec) throw invalidArgument('container.Spec must be set');
  if (c.snapshotKey !== '' && c.snapshotter === '') throw invalidArgument('container.Snapshotter must be set if container.SnapshotKey is set');
}

function wrap(err: unknown, prefix: string): unknown {
  if (!(err instanceof BerthError)) return err;
  return new BerthError(err.code, `${prefix}: ${err.message}`, { cause: err });
}

const withoutEmpty = (m: Labels): Labels => Object.fromEntries(Object.entries(m).filter(([, v]) => v !== ''));

function toRecord(c: Container): ContainerRecord {
  return {
    labels: c.labels,
    image: c.image,
    runtime: c.runtime.options ? { name: c.runtime.name, options: anyToRecord(c.runtime.options) } : { name: c.runtime.name },
    ...(c.spec ? { spec: anyToRecord(c.spec) } : {}),
    snapshotter: c.snapshotter,
    snapshotKey: c.snapshotKey,
    extensions: mapValues(c.extensions, anyToRecord),
    sandbox: c.sandbox,
    createdAt: c.createdAt,
    updatedAt: c.updatedAt,
  };
}

function fromRecord(id: string, r: ContainerRecord): Container {
  return {
    id,
    labels: { ...r.labels },
    image: r.image,
    runtime: r.runtime.options ? { name: r.runtime.name, options: anyFromRecord(r.runtime.options) } : { name: r.runtime.name },
    ...(r.spec ? { spec: anyFromRecord(r.spec) } : {}),
    snapshotter: r.snapshotter,
    snapshotKey: r.snapshotKey,
    extensions: mapValues(r.extensions, anyFromRecord),
    sandbox: r.sandbox,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
  };
}
