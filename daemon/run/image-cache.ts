import { promises as fs } from 'node:fs';
import { failedPrecondition, isCode, notFound } from '../../core/errors.ts';
import type { Mount } from '../../core/mount.ts';
import { maxJsonBlob, type OciDescriptor } from '../../core/oci/descriptor.ts';
import { chainId, diffIds, resolveManifest } from '../../core/oci/image.ts';
import { formatPlatform, type Platform } from '../../core/platform.ts';
import { parseImageConfig } from '../../core/spec/image-config.ts';
import type { ImageConfig } from '../../core/spec/types.ts';
import { Accounts } from '../../core/spec/user.ts';
import { withReadOnlyMounts } from '../../native/mount.ts';
import type { ContentStore } from '../content/store.ts';

/** What a run needs of an image: its config and the chain ID of its top layer. */
export interface ResolvedImage {
  config: ImageConfig;
  /** the committed snapshot the container's is prepared on ('' for an image without layers) */
  chainId: string;
}

const maxEntries = 256;

/** A map that forgets its oldest entries beyond maxEntries. */
class Bounded<V> extends Map<string, V> {
  override set(key: string, value: V): this {
    super.delete(key);
    super.set(key, value);
    if (this.size > maxEntries) this.delete(this.keys().next().value as string);
    return this;
  }
}

/**
 * The users and groups (/etc/passwd, /etc/group) of images' root file systems, kept by the
 * committed snapshot a container's is prepared on (which never changes), so that making a spec
 * mounts an image's root once, not for every container.
 */
export class AccountsCache {
  private readonly accounts = new Bounded<Accounts>();

  /**
   * Runs fn with the users and groups of a root file system prepared on `parent`: read through a
   * read-only mount of `mounts` the first time, from memory after. A root whose files cannot be
   * read whole is not kept (fn sees the error only if it needs them).
   */
  async withAccounts<T>(snapshotter: string, parent: string, mounts: readonly Mount[], fn: (a: Accounts) => T): Promise<T> {
    const key = `${snapshotter}\0${parent}`;
    const hit = this.accounts.get(key);
    if (hit) return fn(hit);
    return withReadOnlyMounts(mounts, (root) => {
      const accounts = new Accounts(root);
      const result = fn(accounts);
      try {
        accounts.passwd();
        accounts.group();
        this.accounts.set(key, accounts);
      } catch {
        // read again next time: fn did not need what failed
      }
      return result;
    });
  }
}

/**
 * What berthd's server-side run reads from images, kept: content is addressed by digest and a
 * committed snapshot never changes, so an image's config and chain ID (by manifest digest) and
 * the users and groups of its root file system (by snapshot parent) are read once, not per run.
 */
export class ImageCache {
  private readonly resolved = new Bounded<ResolvedImage>();
  private readonly accounts = new AccountsCache();

  constructor(private readonly content: ContentStore) {}

  /** The config and chain ID of an image (target: its record's) for a platform. */
  async resolve(ns: string, name: string, target: OciDescriptor, platform: Platform): Promise<ResolvedImage> {
    // content is per namespace: a digest read in one namespace says nothing of another's
    const key = `${ns}\0${target.digest}\0${formatPlatform(platform)}`;
    const hit = this.resolved.get(key);
    if (hit) return hit;
    const read = async (d: OciDescriptor) => {
      try {
        return await fs.readFile((await this.content.reader(ns, d.digest)).path);
      } catch (err) {
        if (isCode(err, 'NotFound')) return undefined;
        throw err;
      }
    };
    const m = await resolveManifest(read, target, platform);
    if (m.config.size > maxJsonBlob) throw failedPrecondition(`image "${name}": its config is too large (${m.config.size} bytes)`);
    const bytes = await read(m.config);
    if (!bytes) throw notFound(`image "${name}": config ${m.config.digest} is missing from the content store`);
    let config: ImageConfig;
    try {
      config = parseImageConfig(name, bytes);
    } catch (err) {
      // data from a registry that cannot make a spec: the image is unusable, not the request
      throw failedPrecondition((err as Error).message);
    }
    // the diff IDs from the bytes read already
    const image = { config, chainId: chainId(await diffIds(async () => bytes, m.config)) };
    this.resolved.set(key, image);
    return image;
  }

  /** AccountsCache.withAccounts */
  withAccounts<T>(snapshotter: string, parent: string, mounts: readonly Mount[], fn: (a: Accounts) => T): Promise<T> {
    return this.accounts.withAccounts(snapshotter, parent, mounts, fn);
  }
}
