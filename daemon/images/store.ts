import { parseDigest } from '../../core/digest.ts';
import { alreadyExists, type BerthError, invalidArgument, notFound } from '../../core/errors.ts';
import type { OciDescriptor } from '../../core/oci/descriptor.ts';
import type { Exchange } from '../events/exchange.ts';
import { adaptFields, parseFilters } from '../filters.ts';
import { type CollectibleKind, labelRefs } from '../gc/collector.ts';
import { type Labels, updateLabels, validateLabels } from '../labels.ts';
import type { MetadataDB, Tx } from '../metadata/db.ts';

/** A name for a tree of content: the target is an index or a manifest. */
export interface Image {
  name: string;
  labels: Labels;
  /** an OCI content descriptor whose annotations are always there */
  target: OciDescriptor & { annotations: Labels };
  createdAt: number;
  updatedAt: number;
}

/** The record in bucket `images`, keyed by the image's name. */
type ImageRecord = Omit<Image, 'name'>;

/** What the store asks of the collector after a delete: a run now (sync) or soon. */
export type Collect = (sync: boolean) => Promise<void>;

const eventType = (what: 'Create' | 'Update' | 'Delete') => `containerd.services.images.v1.Image${what}`;

/**
 * The image store, containerd's metadata image store: records name → target descriptor plus
 * labels, per namespace. Images are garbage-collection roots; each keeps its target blob (and,
 * through that blob's gc.ref labels, the whole tree) and whatever its own gc.ref labels name.
 */
export class ImageStore {
  constructor(
    private readonly db: MetadataDB,
    private readonly events: Exchange,
    private readonly collect: Collect,
  ) {}

  private bucket(ns: string) {
    return this.db.bucket(ns, 'images');
  }

  async get(ns: string, name: string): Promise<Image> {
    const r = await this.db.get<ImageRecord>(this.bucket(ns), name);
    if (!r) throw notFound(`image "${name}"`);
    return { name, ...r };
  }

  async list(ns: string, filters: readonly string[] = []): Promise<Image[]> {
    const match = parseFilters(filters);
    const out: Image[] = [];
    for await (const [name, r] of this.db.entries<ImageRecord>(this.bucket(ns))) {
      const { target } = r;
      const fields = adaptFields(
        { name },
        { labels: r.labels, annotations: target.annotations, target: { digest: target.digest, mediatype: target.mediaType } },
      );
      if (match(fields)) out.push({ name, ...r });
    }
    return out;
  }

  async create(ns: string, image: Omit<Image, 'createdAt' | 'updatedAt'>): Promise<Image> {
    const record = checked(image);
    return this.db.update(async (tx) => {
      await tx.ensureNamespace(ns);
      if (await tx.get(this.bucket(ns), image.name)) throw alreadyExists(`image "${image.name}"`);
      const now = Date.now();
      return this.write(tx, ns, image.name, { ...record, createdAt: now, updatedAt: now }, 'Create');
    });
  }

  /**
   * Changes an image. With no field paths the labels and the target are replaced; otherwise
   * `labels`, `labels.<key>`, `target`, `annotations` and `annotations.<key>` (the target's
   * annotations) are taken from `image`, in order.
   */
  async update(ns: string, image: Omit<Image, 'createdAt' | 'updatedAt'>, paths: readonly string[] = []): Promise<Image> {
    const { name } = image;
    if (name === '') throw invalidArgument('image name is required for update');
    return this.db.update(async (tx) => {
      const current = await tx.get<ImageRecord>(this.bucket(ns), name);
      if (!current) throw notFound(`image "${name}"`);
      let { labels, target } = paths.length === 0 ? image : current;
      for (const path of paths) {
        if (path === 'labels' || path.startsWith('labels.')) {
          labels = updateLabels(labels, image.labels, [path]);
        } else if (path === 'target') {
          target = image.target;
        } else if (path === 'annotations' || path.startsWith('annotations.')) {
          // the same map rules as labels: `annotations` replaces, `annotations.<key>` sets one key
          const annotations = updateLabels(target.annotations, image.target.annotations, [`labels${path.slice('annotations'.length)}`]);
          target = { ...target, annotations };
        } else {
          throw invalidArgument(`cannot update "${path}" field on image "${name}"`);
        }
      }
      const record = checked({ name, labels, target });
      return this.write(tx, ns, name, { ...record, createdAt: current.createdAt, updatedAt: Date.now() }, 'Update');
    });
  }

  /** Deletes an image; with sync, resolves once a collection has run. */
  async delete(ns: string, name: string, sync = false): Promise<void> {
    await this.db.update(async (tx) => {
      if (!(await tx.get(this.bucket(ns), name))) throw notFound(`image "${name}"`);
      tx.del(this.bucket(ns), name);
      tx.onCommit(() => this.events.publish(ns, '/images/delete', eventType('Delete'), { name }));
    });
    await this.collect(sync);
  }

  private write(tx: Tx, ns: string, name: string, record: ImageRecord, event: 'Create' | 'Update'): Image {
    tx.put(this.bucket(ns), name, record);
    tx.onCommit(() => this.events.publish(ns, `/images/${event.toLowerCase()}`, eventType(event), { name, labels: record.labels }));
    return { name, ...record };
  }

  /** Every image is a root; it refers to its target blob and to what its gc.ref labels name. */
  gcKind(): CollectibleKind {
    return {
      kind: 'images',
      async scan(tx, ns) {
        const records = await tx.entries<ImageRecord>(tx.db.bucket(ns, 'images'));
        return records.map(([name, r]) => ({ key: name, root: true, refs: [{ kind: 'content', key: r.target.digest }, ...labelRefs(r.labels)] }));
      },
      // roots are never collected
      async remove() {},
    };
  }
}

/** containerd's validation of an image, returning the record fields (empty values dropped). */
function checked(image: Omit<Image, 'createdAt' | 'updatedAt'>): Pick<ImageRecord, 'labels' | 'target'> {
  if (image.name === '') throw invalidArgument('image name must not be empty');
  let labels: Labels;
  try {
    labels = withoutEmpty(validateLabels(image.labels));
  } catch (err) {
    throw invalidArgument(`image.Labels: ${(err as BerthError).message}`);
  }
  const { target } = image;
  try {
    parseDigest(target.digest);
  } catch (err) {
    throw invalidArgument(`Target.Digest "${target.digest}" invalid: ${(err as BerthError).message}`);
  }
  if (!(target.size > 0)) throw invalidArgument('Target.Size must be greater than zero');
  if (target.mediaType === '') throw invalidArgument('Target.MediaType must be set');
  return { labels, target: { mediaType: target.mediaType, digest: target.digest, size: target.size, annotations: withoutEmpty(target.annotations) } };
}

const withoutEmpty = (m: Labels | undefined): Labels => Object.fromEntries(Object.entries(m ?? {}).filter(([, v]) => v !== ''));
