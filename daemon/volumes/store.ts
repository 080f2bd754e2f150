import { randomBytes } from 'node:crypto';
import { type Dirent, promises as fs } from 'node:fs';
import { join, resolve } from 'node:path';
import { failedPrecondition, invalidArgument, isCode, notFound } from '../../core/errors.ts';
import type { Mount } from '../../core/mount.ts';
import { Mutex } from '../../core/mutex.ts';
import { withReadOnlyMounts } from '../../native/mount.ts';
import type { ContainerStore } from '../containers/store.ts';
import { syncDir } from '../fsutil.ts';
import { type Labels, validateLabels } from '../labels.ts';
import type { MetadataDB } from '../metadata/db.ts';
import { type CopyUpResult, copyUp } from './copy-up.ts';

/** A named volume of the `local` driver: a directory on the host, bind-mounted into containers. */
export interface Volume {
  name: string;
  labels: Labels;
  /** ms since the epoch */
  createdAt: number;
  /** made for an image's VOLUME (or a -v without a name) rather than by name: prune removes these */
  anonymous: boolean;
  /** the data directory, what containers bind-mount */
  mountpoint: string;
}

/** The record beside a volume's data: `<root>/volumes/<namespace>/<name>/volume.json`. */
interface VolumeRecord {
  name: string;
  labels: Labels;
  created_at: string;
  anonymous: boolean;
}

export interface VolumeRequest {
  /** empty: a random name */
  name?: string;
  labels?: Labels;
  anonymous?: boolean;
}

/** A host path a container bind-mounts, from its spec. */
export interface ContainerMount {
  namespace: string;
  container: string;
  source: string;
}

/** Every container's mount sources, in every namespace: how the store finds a volume's users. */
export type ContainerMounts = () => Promise<ContainerMount[]>;

export const maxVolumeName = 128;
const namePattern = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const recordFile = 'volume.json';
const dataDirName = '_data';
/** staging and trash directories beside the volumes; their names cannot be volume names */
const staging = '.creating-';
const trash = '.removing-';

export function validateVolumeName(name: string): string {
  if (name.length === 0 || name.length > maxVolumeName || !namePattern.test(name))
    throw invalidArgument(
      `invalid volume name ${JSON.stringify(name.slice(0, 200))}: up to ${maxVolumeName} of [a-zA-Z0-9_.-], starting with a letter or digit`,
    );
  return name;
}

/** A name for a volume made without one: 64 hex digits, as Docker's. */
export const randomVolumeName = () => randomBytes(32).toString('hex');

/** The mount sources of every container the container store holds. */
export function containerMounts(db: MetadataDB, containers: ContainerStore): ContainerMounts {
  return async () => {
    const found: ContainerMount[] = [];
    for (const namespace of await db.listNamespaces()) {
      for (const c of await containers.list(namespace)) {
        for (const source of mountSources(c.spec?.value)) found.push({ namespace, container: c.id, source });
      }
    }
    return found;
  };
}

/** The `source` of each of a spec's mounts (none for a spec that is not JSON). */
function mountSources(spec: Buffer | undefined): string[] {
  if (!spec) return [];
  try {
    const parsed = JSON.parse(spec.toString('utf8')) as { mounts?: Array<{ source?: unknown }> };
    return (Array.isArray(parsed?.mounts) ? parsed.mounts : []).flatMap((m) => (typeof m?.source === 'string' ? [m.source] : []));
  } catch {
    return [];
  }
}

/** Docker's `volume ls --filter` keys: name=SUBSTRING, label=KEY or label=KEY=VALUE, dangling=true|false, driver=local. */
interface VolumeFilter {
  name: string[];
  label: string[];
  dangling: boolean[];
  driver: string[];
}

function parseVolumeFilters(filters: readonly string[]): VolumeFilter {
  const f: VolumeFilter = { name: [], label: [], dangling: [], driver: [] };
  for (const text of filters) {
    const at = text.indexOf('=');
    const key = at < 0 ? text : text.slice(0, at);
    const value = at < 0 ? '' : text.slice(at + 1);
    if (key === 'name' && at >= 0) f.name.push(value);
    else if (key === 'label' && value !== '') f.label.push(value);
    else if (key === 'dangling' && ['true', '1', 'false', '0'].includes(value)) f.dangling.push(value === 'true' || value === '1');
    else if (key === 'driver' && value !== '') f.driver.push(value);
    else throw invalidArgument(`invalid volume filter ${JSON.stringify(text)}: use name=NAME, label=KEY, label=KEY=VALUE, dangling=true|false or driver=local`);
  }
  return f;
}

/** Several values of one key: any may match; several keys: each must. */
function matches(v: Volume, f: VolumeFilter, used: boolean): boolean {
  const labelMatches = (l: string) => {
    const at = l.indexOf('=');
    return at < 0 ? l in v.labels : v.labels[l.slice(0, at)] === l.slice(at + 1);
  };
  return (
    (f.name.length === 0 || f.name.some((n) => v.name.includes(n))) &&
    (f.label.length === 0 || f.label.some(labelMatches)) &&
    (f.dangling.length === 0 || f.dangling.some((d) => d === !used)) &&
    (f.driver.length === 0 || f.driver.includes('local'))
  );
}

/**
 * The size of what a tree holds, as Docker counts a volume's: the sizes of everything but
 * directories, each inode once.
 */
export async function dataSize(path: string): Promise<number> {
  const seen = new Set<string>();
  const walk = async (p: string): Promise<number> => {
    const st = await fs.lstat(p).catch(() => undefined);
    if (!st) return 0;
    if (st.isDirectory()) {
      let total = 0;
      for (const name of await fs.readdir(p).catch(() => [] as string[])) total += await walk(join(p, name));
      return total;
    }
    const key = `${st.dev}:${st.ino}`;
    if (seen.has(key)) return 0;
    seen.add(key);
    return st.size;
  };
  return walk(path);
}

/**
 * berthd's volumes, as Docker's and nerdctl's `local` driver keeps them: per namespace,
 * `<root>/volumes/<namespace>/<name>/_data` (what containers bind-mount) with the volume's record
 * in `volume.json` beside it. A volume appears whole (its directory is made under a staging name
 * and renamed into place) and disappears at once (renamed away, then removed). A volume is in
 * use while a container's spec mounts its data directory, or while it is reserved for a container
 * being made; such a volume is not removed. Changes run one at a time.
 */
export class VolumeStore {
  private readonly lock = new Mutex();
  /** data directories held for containers being made (see reserve), with how many hold each */
  private readonly reserved = new Map<string, number>();
  /** copy-ups under way, by data directory: a second user of a fresh volume waits for the first */
  private readonly copying = new Map<string, Promise<CopyUpResult>>();

  constructor(
    readonly dir: string,
    private readonly mounts: ContainerMounts,
  ) {}

  /**
   * Removes what a crash left half made or half removed; what cannot be removed (an immutable
   * file, say) is left, hidden, rather than keep berthd from serving volumes.
   */
  async init(): Promise<void> {
    for (const ns of await this.namespaces()) {
      for (const e of await fs.readdir(join(this.dir, ns), { withFileTypes: true })) {
        if (e.name.startsWith(staging) || e.name.startsWith(trash))
          await fs.rm(join(this.dir, ns, e.name), { recursive: true, force: true }).catch(() => undefined);
      }
    }
  }

  dataDir(ns: string, name: string): string {
    return join(this.dir, ns, validateVolumeName(name), dataDirName);
  }

  /** Makes a volume, or returns the one of that name (as Docker does); no name: a random one. */
  async create(ns: string, opts: VolumeRequest = {}): Promise<{ volume: Volume; created: boolean }> {
    const name = validateVolumeName(opts.name || randomVolumeName());
    const labels = validateLabels(opts.labels);
    return this.lock.run(() => this.createLocked(ns, name, labels, Boolean(opts.anonymous)));
  }

  /**
   * The volumes a container about to be made will mount, made if missing (`-v NAME:/path` makes
   * NAME, as Docker does; an anonymous one gets a random name), and held in use until `release`:
   * neither rm nor prune removes them before the container record that mounts them exists.
   */
  async reserve(ns: string, requests: readonly VolumeRequest[]): Promise<{ volumes: Volume[]; release: () => void }> {
    const wanted = requests.map((r) => ({
      name: validateVolumeName(r.name || randomVolumeName()),
      labels: validateLabels(r.labels),
      anonymous: Boolean(r.anonymous),
    }));
    return this.lock.run(async () => {
      const volumes: Volume[] = [];
      for (const w of wanted) volumes.push((await this.createLocked(ns, w.name, w.labels, w.anonymous)).volume);
      for (const v of volumes) this.reserved.set(v.mountpoint, (this.reserved.get(v.mountpoint) ?? 0) + 1);
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        for (const v of volumes) {
          const n = (this.reserved.get(v.mountpoint) ?? 1) - 1;
          if (n > 0) this.reserved.set(v.mountpoint, n);
          else this.reserved.delete(v.mountpoint);
        }
      };
      return { volumes, release };
    });
  }

  private async createLocked(ns: string, name: string, labels: Labels, anonymous: boolean): Promise<{ volume: Volume; created: boolean }> {
    const existing = await this.read(ns, name);
    if (existing) return { volume: existing, created: false };
    const nsDir = join(this.dir, ns);
    await fs.mkdir(nsDir, { recursive: true, mode: 0o700 });
    const stage = join(nsDir, `${staging}${randomBytes(8).toString('hex')}`);
    try {
      await fs.mkdir(stage, { mode: 0o700 });
      await fs.mkdir(join(stage, dataDirName));
      await fs.chmod(join(stage, dataDirName), 0o755);
      const record: VolumeRecord = { name, labels, created_at: new Date().toISOString(), anonymous };
      const fh = await fs.open(join(stage, recordFile), 'wx', 0o600);
      try {
        await fh.writeFile(`${JSON.stringify(record)}\n`);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await syncDir(stage);
      await fs.rename(stage, join(nsDir, name));
      await syncDir(nsDir);
      return { volume: this.fromRecord(ns, record), created: true };
    } catch (err) {
      await fs.rm(stage, { recursive: true, force: true });
      throw err;
    }
  }

  /** NotFound when there is no such volume. */
  async get(ns: string, name: string): Promise<Volume> {
    const v = await this.read(ns, validateVolumeName(name));
    if (!v) throw notFound(`volume ${JSON.stringify(name)} in namespace ${JSON.stringify(ns)}`);
    return v;
  }

  /** The namespace's volumes, sorted by name, that pass the filters (see parseVolumeFilters). */
  async list(ns: string, filters: readonly string[] = []): Promise<Volume[]> {
    const f = parseVolumeFilters(filters);
    const all = await this.all(ns);
    const used = f.dangling.length > 0 ? await this.usedSources() : new Map<string, string[]>();
    return all.filter((v) => matches(v, f, used.has(v.mountpoint) || this.reserved.has(v.mountpoint)));
  }

  /** The containers that mount the volume (`namespace/id` for those of other namespaces). */
  async usedBy(ns: string, name: string): Promise<string[]> {
    const v = await this.get(ns, name);
    return (await this.usedSources(ns)).get(v.mountpoint) ?? [];
  }

  /** Removes a volume and its data (NotFound; FailedPrecondition while a container uses it). */
  async remove(ns: string, name: string): Promise<void> {
    await this.lock.run(async () => {
      // a volume whose record is damaged can still be removed
      const mountpoint = await this.get(ns, name).then(
        (v) => v.mountpoint,
        (err: unknown) => {
          if (isCode(err, 'FailedPrecondition')) return this.dataDir(ns, name);
          throw err;
        },
      );
      const users = ((await this.usedSources(ns)).get(mountpoint) ?? []).map((c) => `container ${c}`);
      if (this.reserved.has(mountpoint)) users.push('a container being created');
      if (users.length > 0) throw failedPrecondition(`volume ${JSON.stringify(name)} is in use by ${users.join(', ')}`);
      await this.discard(ns, name);
    });
  }

  /**
   * Removes the volumes no container uses: anonymous ones only, unless `all`. Returns what it
   * removed and the size of their data (see dataSize).
   */
  async prune(ns: string, opts: { all?: boolean; filters?: readonly string[] } = {}): Promise<{ removed: Volume[]; reclaimed: number }> {
    const f = parseVolumeFilters(opts.filters ?? []);
    return this.lock.run(async () => {
      const used = await this.usedSources(ns);
      const removed: Volume[] = [];
      let reclaimed = 0;
      for (const v of await this.all(ns)) {
        if (used.has(v.mountpoint) || this.reserved.has(v.mountpoint) || (!opts.all && !v.anonymous) || !matches(v, f, false)) continue;
        reclaimed += await dataSize(v.mountpoint);
        await this.discard(ns, v.name);
        removed.push(v);
      }
      return { removed, reclaimed };
    });
  }

  /**
   * After a container is removed: removes the anonymous volumes among the paths its spec mounted,
   * unless another container still uses them (Docker's `rm -v`, and what --rm does). Returns the
   * names removed.
   */
  async removeAnonymous(ns: string, sources: readonly string[]): Promise<string[]> {
    return this.lock.run(async () => {
      const used = await this.usedSources(ns);
      const removed: string[] = [];
      for (const v of await this.all(ns)) {
        if (!v.anonymous || !sources.includes(v.mountpoint) || used.has(v.mountpoint) || this.reserved.has(v.mountpoint)) continue;
        await this.discard(ns, v.name);
        removed.push(v.name);
      }
      return removed;
    });
  }

  /**
   * Copies the image's content at `containerPath` into the volume if the volume is empty (see
   * copy-up.ts); `rootfs` is the container's root file system, mounted (read-only is best).
   */
  async populate(ns: string, name: string, rootfs: string, containerPath: string): Promise<CopyUpResult> {
    const dataDir = (await this.get(ns, name)).mountpoint;
    const before = this.copying.get(dataDir);
    const run = (before ?? Promise.resolve())
      .catch(() => undefined)
      .then(() => copyUp(rootfs, containerPath, dataDir))
      .finally(() => {
        if (this.copying.get(dataDir) === run) this.copying.delete(dataDir);
      });
    this.copying.set(dataDir, run);
    return run;
  }

  /**
   * Copy-up for a container about to be made: each volume that is still empty gets the image's
   * content at its path, from the container's root file system (`rootfs`: the snapshot's mounts,
   * mounted read-only here, once, and only when some volume is empty). Returns each volume's result.
   */
  async populateFromMounts(ns: string, rootfs: readonly Mount[], targets: ReadonlyArray<{ name: string; path: string }>): Promise<CopyUpResult[]> {
    const empty: boolean[] = [];
    for (const t of targets) empty.push((await fs.readdir((await this.get(ns, t.name)).mountpoint)).length === 0);
    if (!empty.includes(true)) return targets.map(() => ({ copied: false, reason: 'the volume already holds data', skipped: [] }));
    return withReadOnlyMounts(rootfs, async (root) => {
      const results: CopyUpResult[] = [];
      for (const t of targets) results.push(await this.populate(ns, t.name, root, t.path));
      return results;
    });
  }

  /** Data directory → the containers mounting it (or something inside it). */
  private async usedSources(ns?: string): Promise<Map<string, string[]>> {
    const used = new Map<string, string[]>();
    const prefix = `${this.dir}/`;
    for (const m of await this.mounts()) {
      const source = resolve('/', m.source);
      if (!source.startsWith(prefix)) continue;
      // <dir>/<namespace>/<name>/_data[/...]
      const parts = source.slice(prefix.length).split('/');
      if (parts.length < 3 || parts[2] !== dataDirName) continue;
      const dataDir = join(this.dir, parts[0]!, parts[1]!, dataDirName);
      const who = m.namespace === ns ? m.container : `${m.namespace}/${m.container}`;
      used.set(dataDir, [...(used.get(dataDir) ?? []), who]);
    }
    return used;
  }

  private async discard(ns: string, name: string): Promise<void> {
    const nsDir = join(this.dir, ns);
    const away = join(nsDir, `${trash}${name}-${randomBytes(4).toString('hex')}`);
    await fs.rename(join(nsDir, name), away);
    await syncDir(nsDir);
    await fs.rm(away, { recursive: true, force: true });
  }

  private async namespaces(): Promise<string[]> {
    const entries = await fs.readdir(this.dir, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [] as Dirent[];
      throw err;
    });
    return entries.filter((e) => e.isDirectory()).map((e) => e.name);
  }

  private async all(ns: string): Promise<Volume[]> {
    let names: string[];
    try {
      names = await fs.readdir(join(this.dir, ns));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const found: Volume[] = [];
    for (const name of names.sort()) {
      if (!namePattern.test(name)) continue;
      // a damaged record hides its volume from listings; get and rm name the problem
      const v = await this.read(ns, name).catch(() => undefined);
      if (v) found.push(v);
    }
    return found;
  }

  private async read(ns: string, name: string): Promise<Volume | undefined> {
    let text: string;
    try {
      text = await fs.readFile(join(this.dir, ns, name, recordFile), 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw err;
    }
    let r: VolumeRecord;
    try {
      r = JSON.parse(text) as VolumeRecord;
    } catch {
      throw failedPrecondition(
        `volume ${JSON.stringify(name)} in namespace ${JSON.stringify(ns)}: its record ${join(this.dir, ns, name, recordFile)} is damaged`,
      );
    }
    return this.fromRecord(ns, { ...r, name });
  }

  private fromRecord(ns: string, r: VolumeRecord): Volume {
    return {
      name: r.name,
      labels: r.labels ?? {},
      createdAt: Date.parse(r.created_at),
      anonymous: Boolean(r.anonymous),
      mountpoint: join(this.dir, ns, r.name, dataDirName),
    };
  }
}
