import { promises as fs } from 'node:fs';
import { failedPrecondition, invalidArgument, isCode, notFound, unimplemented } from '../../core/errors.ts';
import type { BlobReader, OciDescriptor } from '../../core/oci/descriptor.ts';
import { chainId as chainIdOf, resolveManifest } from '../../core/oci/image.ts';
import type { CredentialsFor } from '../../core/registry/auth.ts';
import { formatReference, parseReference, type Reference, repositoryName } from '../../core/registry/reference.ts';
import type { ContentStore } from '../content/store.ts';
import type { Image as ImageRecord, ImageStore } from '../images/store.ts';
import type { Puller } from '../pull/pull.ts';
import type { SnapshotStore } from '../snapshots/store.ts';

/**
 * The node's images as the CRI sees them, over berthd's image store in the CRI's namespace (the
 * same records `berth -n k8s.io images` lists). The CRI groups image records by image id, the
 * digest of the image's config: one CRI image has every record name whose target resolves to
 * that config (its tags, its repo@digest names and the id itself), as containerd's CRI does.
 */
export interface CriImage {
  id: string;
  repoTags: string[];
  repoDigests: string[];
  /** the record names of the image (what RemoveImage deletes) */
  names: string[];
  size: number;
  /** the config's User: a number (uid) or a name */
  uid?: number;
  username: string;
  chainId: string;
  config: ImageConfig;
  pinned: boolean;
}

/** What berth reads of an image's config. */
export interface ImageConfig {
  config?: { User?: string };
  rootfs?: { diff_ids?: string[] };
  [key: string]: unknown;
}

/** Credentials of a PullImageRequest (runtime.v1.AuthConfig). */
export interface PullAuth {
  username: string;
  password: string;
  auth: string;
  server_address: string;
  identity_token: string;
  registry_token: string;
}

/** The label containerd's CRI puts on the image records it makes; berth's CRI makes the same. */
export const managedLabel = 'io.cri-containerd.image';
/** Images with this label set to "pinned" are kept from the kubelet's image garbage collection. */
export const pinnedLabel = 'io.cri-containerd.pinned';

const fullId = /^sha256:[a-f0-9]{64}$/;

/** What a record's target gives, once read (content is immutable, so kept per target digest). */
interface Resolved {
  id: string;
  size: number;
  config: ImageConfig;
}

export interface CriImagesDeps {
  ns: string;
  images: ImageStore;
  content: ContentStore;
  puller: Puller;
  snapshotter: SnapshotStore;
  maxConcurrentDownloads: number;
  /** undefined: the puller's own */
  hostsDir?: string;
}

export class CriImages {
  private readonly resolved = new Map<string, Resolved>();

  constructor(private readonly deps: CriImagesDeps) {}

  /** Every image, one per id. */
  async list(): Promise<CriImage[]> {
    const { ns, images } = this.deps;
    const records = await images.list(ns);
    const byId = new Map<string, Array<{ record: ImageRecord; resolved: Resolved }>>();
    const seen = new Set<string>();
    for (const record of records) {
      seen.add(record.target.digest);
      const resolved = await this.resolve(record.target).catch((err) => {
        // an image whose content is missing or for another platform is not one the CRI can run
        if (isCode(err, 'NotFound') || isCode(err, 'FailedPrecondition')) return undefined;
        throw err;
      });
      if (!resolved) continue;
      const group = byId.get(resolved.id) ?? [];
      group.push({ record, resolved });
      byId.set(resolved.id, group);
    }
    for (const digest of this.resolved.keys()) if (!seen.has(digest)) this.resolved.delete(digest);
    return [...byId.entries()].map(([id, group]) => toImage(id, group));
  }

  /**
   * The image a CRI ImageSpec names, as containerd's CRI resolves it: a full image id; else a
   * reference (`busybox` is docker.io/library/busybox:latest) naming a record; else the hex
   * prefix of an id, with or without `sha256:`, if only one image has it.
   */
  async find(spec: string): Promise<CriImage | undefined> {
    const all = await this.list();
    if (fullId.test(spec)) return all.find((i) => i.id === spec);
    const ref = tryReference(spec);
    if (ref) {
      const name = formatReference(ref);
      const named = all.find((i) => i.names.includes(name) || i.repoTags.includes(name) || i.repoDigests.includes(name));
      if (named) return named;
    }
    const hex = spec.startsWith('sha256:') ? spec.slice(7) : spec;
    if (!/^[a-f0-9]+$/.test(hex)) return undefined;
    const matching = all.filter((i) => i.id.startsWith(`sha256:${hex}`));
    return matching.length === 1 ? matching[0] : undefined;
  }

  /**
   * The images a ListImages filter names: the one the spec resolves to, or, for a bare repository
   * name (no tag, no digest), every image with a name in that repository.
   */
  async filter(spec: string): Promise<CriImage[]> {
    if (spec === '') return this.list();
    const ref = tryReference(spec);
    const bare = ref && !/[:@]/.test(spec.slice(spec.lastIndexOf('/') + 1));
    if (ref && bare) {
      const repo = repositoryName(ref);
      return (await this.list()).filter((i) => [...i.repoTags, ...i.repoDigests].some((n) => n.startsWith(`${repo}:`) || n.startsWith(`${repo}@`)));
    }
    const found = await this.find(spec);
    return found ? [found] : [];
  }

  /** The record name `ref` finds the image by (itself when it is one of the image's names). */
  recordName(image: CriImage, ref: string): string {
    return image.names.find((n) => n === ref) ?? image.repoTags[0] ?? image.names[0]!;
  }

  /**
   * Makes sure the image's layers are unpacked for the CRI's snapshotter (unpacking them now if
   * not), and answers the record name `ref` goes by.
   */
  async ensureUnpacked(image: CriImage, ref: string): Promise<string> {
    const { deps } = this;
    if (image.chainId === '') throw invalidArgument(`image ${ref} has no layers`);
    const name = this.recordName(image, ref);
    try {
      await deps.snapshotter.stat(deps.ns, image.chainId);
    } catch (err) {
      if (!isCode(err, 'NotFound')) throw err;
      await deps.puller.unpack(deps.ns, name, { snapshotter: deps.snapshotter.name });
    }
    return name;
  }

  /**
   * Pulls and unpacks an image, then names it as containerd's CRI does: by its reference, by
   * repo@manifest-digest and by its id, each record labelled as managed. Returns the id.
   */
  async pull(spec: string, auth: PullAuth | null): Promise<string> {
    const { ns, puller, images, snapshotter, maxConcurrentDownloads, hostsDir } = this.deps;
    const ref = tryReference(spec);
    if (!ref) throw invalidArgument(`failed to parse image reference "${spec}"`);
    const result = await puller.pull(ns, formatReference(ref), {
      snapshotter: snapshotter.name,
      maxConcurrent: maxConcurrentDownloads,
      credentials: credentialsFrom(auth),
      hostsDir,
    });
    const target = { ...result.target, annotations: {} };
    const { id } = await this.resolve(target);
    const names = [id, `${repositoryName(ref)}@${result.target.digest}`, ...(ref.digest ? [] : [formatReference(ref)])];
    // pulls of the same image may run side by side (the kubelet's parallel pulls): either may name it first
    for (const name of names) {
      try {
        await images.create(ns, { name, labels: { [managedLabel]: 'managed' }, target });
      } catch (err) {
        if (!isCode(err, 'AlreadyExists')) throw err;
        const current = await images.get(ns, name);
        await images.update(ns, { name, labels: { ...current.labels, [managedLabel]: 'managed' }, target });
      }
    }
    return id;
  }

  /** Removes an image with all its names; an image that is not there is not an error. */
  async remove(spec: string): Promise<void> {
    const image = await this.find(spec);
    if (!image) return;
    const { ns, images } = this.deps;
    for (const [i, name] of image.names.entries()) {
      // the last deletion waits for the collector, so the image's content and snapshots are gone on return
      await images.delete(ns, name, i === image.names.length - 1).catch((err) => {
        if (!isCode(err, 'NotFound')) throw err;
      });
    }
  }

  /** The snapshotter's use of its filesystem by the CRI's snapshots: bytes and inodes, as containerd's CRI counts them. */
  async fsUsage(): Promise<{ mountpoint: string; usedBytes: number; inodesUsed: number }> {
    const { ns, snapshotter } = this.deps;
    let usedBytes = 0;
    let inodesUsed = 0;
    for (const s of await snapshotter.list(ns)) {
      const u = await snapshotter.usage(ns, s.name).catch((err) => {
        if (isCode(err, 'NotFound')) return { size: 0, inodes: 0 };
        throw err;
      });
      usedBytes += u.size;
      inodesUsed += u.inodes;
    }
    return { mountpoint: snapshotter.backend.root, usedBytes, inodesUsed };
  }

  private async resolve(target: OciDescriptor): Promise<Resolved> {
    const known = this.resolved.get(target.digest);
    if (known) return known;
    const read: BlobReader = async (d) => {
      try {
        const { path } = await this.deps.content.reader(this.deps.ns, d.digest);
        return await fs.readFile(path);
      } catch (err) {
        if (isCode(err, 'NotFound')) return undefined;
        throw err;
      }
    };
    const m = await resolveManifest(read, target);
    const bytes = await read(m.config);
    if (!bytes) throw notFound(`image config ${m.config.digest}`);
    let config: ImageConfig;
    try {
      config = JSON.parse(bytes.toString('utf8')) as ImageConfig;
    } catch {
      throw failedPrecondition(`image config ${m.config.digest} is not JSON`);
    }
    const resolved = { id: m.config.digest, size: [...m.path, m.config, ...m.layers].reduce((n, d) => n + d.size, 0), config };
    this.resolved.set(target.digest, resolved);
    return resolved;
  }
}

function tryReference(spec: string): Reference | undefined {
  try {
    return parseReference(spec);
  } catch {
    return undefined;
  }
}

function toImage(id: string, group: Array<{ record: ImageRecord; resolved: Resolved }>): CriImage {
  const repoTags: string[] = [];
  const repoDigests: string[] = [];
  for (const { record } of group) {
    if (fullId.test(record.name)) continue;
    const ref = tryReference(record.name);
    if (!ref) continue;
    const name = formatReference(ref);
    const list = ref.digest ? repoDigests : repoTags;
    if (!list.includes(name)) list.push(name);
  }
  const { config, size } = group[0]!.resolved;
  const user = (config.config?.User ?? '').split(':')[0]!;
  const uid = /^\d+$/.test(user) ? Number(user) : undefined;
  const diffIds = config.rootfs?.diff_ids ?? [];
  return {
    id,
    repoTags: repoTags.sort(),
    repoDigests: repoDigests.sort(),
    names: group.map((g) => g.record.name).sort(),
    size,
    uid,
    username: uid === undefined ? user : '',
    chainId: diffIds.length > 0 ? chainIdOf(diffIds) : '',
    config,
    pinned: group.some((g) => g.record.labels[pinnedLabel] === 'pinned'),
  };
}

/**
 * The credentials a PullImageRequest carries, as containerd's CRI reads them: for the registry
 * of server_address only, when it is given; username and password, else `auth` (base64 of
 * user:password). OAuth identity tokens need a token flow berth's registry client does not have;
 * registry tokens containerd's CRI ignores too.
 */
export function credentialsFrom(auth: PullAuth | null): CredentialsFor | undefined {
  if (!auth) return undefined;
  let username = auth.username;
  let password = auth.password;
  if (username === '' && auth.identity_token !== '') {
    throw unimplemented('PullImage: identity tokens (OAuth2 refresh tokens) are not supported by berth; give a username and password');
  }
  if (username === '' && auth.auth !== '') {
    const decoded = Buffer.from(auth.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) throw invalidArgument('PullImage: auth must be the base64 of "username:password"');
    username = decoded.slice(0, colon);
    password = decoded.slice(colon + 1);
  }
  if (username === '') return undefined;
  const only = auth.server_address === '' ? undefined : registryDomain(auth.server_address);
  const credentials = { username, password };
  return (domain) => (only === undefined || registryDomain(domain) === only ? credentials : undefined);
}

/** A server address as Docker config files write them (`https://index.docker.io/v1/`, `host:port`) as a registry domain. */
function registryDomain(address: string): string {
  const host = address
    .replace(/^[a-z][a-z0-9+.-]*:\/\//i, '')
    .split('/')[0]!
    .toLowerCase();
  return host === 'index.docker.io' || host === 'registry-1.docker.io' ? 'docker.io' : host;
}
