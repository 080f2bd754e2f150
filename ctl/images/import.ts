import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { BerthError } from '../../core/errors.ts';
import { childGcLabels, hostPlatform, MediaType, normalizePlatform, type OciDescriptor, type Platform } from '../../core/oci/image.ts';
import { formatReference, parseReference } from '../../core/registry/reference.ts';
import { BerthClient } from '../../transport/client.ts';
import { writeBlob } from '../../transport/clients/content.ts';
import { blobs } from './blobs.ts';
import { tarEntries } from './tar.ts';
import { AnnotationImageName, AnnotationRefName, allPlatforms, MissingBlobError, ociReferenceName, onlyPlatforms, walkImage } from './tree.ts';

/**
 * `berth images import`, client side as ctr 1.6 does it (client.Import + archive.ImportIndex):
 * under a lease, every file of the archive streams into the content store (blobs/sha256/<hex>
 * checked against its name), the image trees are walked for the wanted platforms (every blob
 * must be there), indexes and manifests get the gc.ref labels a pull gives them, and only then
 * are the image records created. A failed import leaves no record, only leased content that
 * the garbage collector takes once the lease is gone.
 */

/** The most JSON (index.json, manifest.json, oci-layout) read from an archive (containerd's jsonLimit). */
export const jsonLimit = 20 << 20;

export interface ImportOptions {
  /** image names are this prefix + the archive's tags; only names under it are imported */
  baseName?: string;
  /** also name the archive's top index (index.json) */
  indexName?: string;
  /** also name each image <base>@<digest> */
  digests?: boolean;
  allPlatforms?: boolean;
  platform?: Platform;
  /** the day for the default base name import-YYYY-MM-DD */
  now?: Date;
}

export interface ImportedImage {
  name: string;
  target: OciDescriptor;
}

interface ArchiveFile {
  digest: string;
  size: number;
}

interface Archive {
  /** small JSON files by name: oci-layout, index.json, manifest.json */
  json: Map<string, Buffer>;
  /** every other regular file, stored as a blob */
  files: Map<string, ArchiveFile>;
}

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** The entry's name, cleaned; absolute names and names climbing out with .. are refused. */
function entryName(raw: string): string {
  if (raw.startsWith('/')) throw new Error(`archive entry "${raw}" has an absolute path`);
  if (raw.split('/').includes('..')) throw new Error(`archive entry "${raw}" has a ".." path component`);
  return posix.normalize(raw).replace(/\/+$/, '');
}

async function readJsonEntry(entry: AsyncIterable<Buffer>, name: string, size: number): Promise<Buffer> {
  if (size > jsonLimit) throw new Error(`${name} exceeds 20 MiB (${size} bytes): refusing to read it`);
  const parts: Buffer[] = [];
  for await (const chunk of entry) parts.push(chunk);
  return Buffer.concat(parts);
}

function parseJson<T>(bytes: Buffer, name: string): T {
  try {
    return JSON.parse(bytes.toString('utf8')) as T;
  } catch (err) {
    throw new Error(`${name} is not valid JSON: ${(err as Error).message}`);
  }
}

const isCode = (err: unknown, code: string) => err instanceof BerthError && err.code === code;

/** Streams one archive file into the content store; blobs/sha256/<hex> must have that digest. */
async function ingestFile(c: BerthClient, entry: AsyncIterable<Buffer>, name: string, size: number, ref: string): Promise<ArchiveFile> {
  let expected = '';
  if (name.startsWith('blobs/')) {
    const m = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(name);
    if (!m) throw new Error(`archive entry "${name}" is not a blob name (want blobs/sha256/<64 hex digits>)`);
    expected = `sha256:${m[1]}`;
  }
  const hash = createHash('sha256');
  const hashed = async function* () {
    for await (const chunk of entry) {
      hash.update(chunk);
      yield chunk;
    }
  };
  const bytes = hashed();
  try {
    const res = await writeBlob(c, bytes, { ref, total: size, expected });
    if (res.existed) {
      // the store has the blob: the archive's bytes still have to be that blob
      for await (const _ of bytes);
      if (`sha256:${hash.digest('hex')}` !== expected) throw new Error(`${name}: the bytes in the archive are not blob ${expected}`);
    }
    return { digest: res.digest, size };
  } catch (err) {
    if (!(err instanceof BerthError)) throw err;
    await c.content.Abort({ ref }).catch(() => undefined);
    // a file the store has already, named by its digest only after reading it
    if (!expected && isCode(err, 'AlreadyExists')) return { digest: `sha256:${hash.digest('hex')}`, size };
    const why = (err as Error).message;
    throw new Error(expected && /digest|size/i.test(why) ? `${name}: the bytes in the archive are not blob ${expected} (${why})` : `${name}: ${why}`);
  }
}

/** Reads the archive: small JSON kept, every other regular file streamed into the store. */
async function ingestArchive(c: BerthClient, source: AsyncIterable<Buffer | string>, lease: string): Promise<Archive> {
  const archive: Archive = { json: new Map(), files: new Map() };
  const seen = new Set<string>();
  for await (const entry of tarEntries(source)) {
    const name = entryName(entry.name);
    if (entry.type === 'dir') continue;
    if (entry.type === 'symlink' || entry.type === 'link')
      throw new Error(`archive entry "${name}" is a ${entry.type === 'link' ? 'hard link' : 'symlink'}: image archives may hold only regular files`);
    if (entry.type !== 'file') continue;
    if (seen.has(name)) throw new Error(`archive entry "${name}" appears twice`);
    seen.add(name);
    if (name === 'oci-layout' || name === 'index.json' || name === 'manifest.json') archive.json.set(name, await readJsonEntry(entry.body, name, entry.size));
    else if (name !== 'repositories') archive.files.set(name, await ingestFile(c, entry.body, name, entry.size, `import-${lease}-${name}`));
  }
  return archive;
}

/** Writes small JSON (a manifest or index the import makes) as a blob. */
async function putJson(c: BerthClient, bytes: Buffer, lease: string): Promise<string> {
  const digest = sha256(bytes);
  await writeBlob(c, bytes, { ref: `import-${lease}-${digest}`, total: bytes.length, expected: digest });
  return digest;
}

interface TopIndex {
  bytes: Buffer;
  manifests: OciDescriptor[];
}

function ociTop(archive: Archive): TopIndex {
  const layout = parseJson<{ imageLayoutVersion?: unknown }>(archive.json.get('oci-layout')!, 'oci-layout');
  if (layout?.imageLayoutVersion !== '1.0.0') throw new Error(`unsupported OCI layout version ${JSON.stringify(layout?.imageLayoutVersion)}`);
  const bytes = archive.json.get('index.json');
  if (!bytes) throw new Error('missing index.json in the OCI layout');
  const index = parseJson<{ manifests?: unknown }>(bytes, 'index.json');
  if (!Array.isArray(index?.manifests)) throw new Error('index.json has no manifests list');
  return { bytes, manifests: index.manifests as OciDescriptor[] };
}

/** The first bytes of a stored blob, to tell a compressed layer from a plain tar. */
async function head(c: BerthClient, digest: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const msg of c.content.Read({ digest, offset: 0, size: 10 })) parts.push(msg.data);
  return Buffer.concat(parts);
}

/** A `docker save` archive: a Docker schema2 manifest per manifest.json entry, one index entry per tag (as ImportIndex). */
async function dockerTop(c: BerthClient, archive: Archive, lease: string): Promise<TopIndex> {
  const list = parseJson<unknown>(archive.json.get('manifest.json')!, 'manifest.json');
  if (!Array.isArray(list)) throw new Error('manifest.json is not a list of images');
  const file = (path: unknown, what: string) => {
    const f = typeof path === 'string' ? archive.files.get(entryName(path)) : undefined;
    if (!f) throw new Error(`${what} ${JSON.stringify(path)} named in manifest.json is not in the archive`);
    return f;
  };
  const { read } = blobs(c);
  const manifests: OciDescriptor[] = [];
  for (const item of list as Array<{ Config?: unknown; RepoTags?: unknown; Layers?: unknown }>) {
    const cfg = file(item?.Config, 'image config');
    const config = { mediaType: MediaType.dockerConfig, digest: cfg.digest, size: cfg.size };
    if (!Array.isArray(item.Layers)) throw new Error('manifest.json: an image has no Layers list');
    const layers = [];
    for (const path of item.Layers) {
      const l = file(path, 'layer');
      const h = l.size === 0 ? Buffer.alloc(0) : await head(c, l.digest);
      const plain =
        h.length === 0 ||
        !((h[0] === 0x1f && h[1] === 0x8b) || h.readUInt32BE(0) === 0x28b52ffd || h.subarray(0, 3).toString('latin1') === 'BZh' || h[0] === 0xfd);
      layers.push({
        mediaType: plain ? 'application/vnd.docker.image.rootfs.diff.tar' : 'application/vnd.docker.image.rootfs.diff.tar.gzip',
        digest: l.digest,
        size: l.size,
      });
    }
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.dockerManifest, config, layers }));
    const desc: OciDescriptor = { mediaType: MediaType.dockerManifest, digest: await putJson(c, bytes, lease), size: bytes.length };
    const cfgJson = parseJson<{ os?: unknown; architecture?: unknown; variant?: unknown }>((await read(config))!, `image config ${item.Config}`);
    if (typeof cfgJson?.os === 'string' && cfgJson.os && typeof cfgJson.architecture === 'string') {
      desc.platform = normalizePlatform({
        os: cfgJson.os,
        architecture: cfgJson.architecture,
        ...(typeof cfgJson.variant === 'string' && cfgJson.variant ? { variant: cfgJson.variant } : {}),
      });
    }
    const tags = Array.isArray(item.RepoTags) ? (item.RepoTags as unknown[]) : [];
    if (tags.length === 0) manifests.push(desc);
    for (const tag of tags) {
      const name = formatReference(parseReference(String(tag)));
      manifests.push({ ...desc, annotations: { [AnnotationImageName]: name, [AnnotationRefName]: ociReferenceName(name) } });
    }
  }
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests }));
  return { bytes, manifests };
}

/** ctr's ref translators: AddRefPrefix (no base name given) or FilterRefPrefix (--base-name). */
function refTranslator(base: string, filter: boolean) {
  return (ref: string) => {
    if (/[/:@]/.test(ref)) {
      const prefixed = ref.startsWith(base) && (ref.length === base.length || '/:@'.includes(ref[base.length]!));
      return filter && !prefixed ? '' : ref;
    }
    return `${base}:${ref}`;
  };
}

/** The image names for the top index's entries (client.Import's imageName, --digests and --index-name). */
function nameImages(top: OciDescriptor, kept: OciDescriptor[], opts: ImportOptions): ImportedImage[] {
  const day = (opts.now ?? new Date()).toISOString().slice(0, 10);
  const base = opts.baseName || `import-${day}`;
  const translate = refTranslator(base, Boolean(opts.baseName));
  const named = new Map<string, OciDescriptor>();
  const add = (name: string, target: OciDescriptor) => {
    const other = named.get(name);
    if (other && other.digest !== target.digest) throw new Error(`the archive gives the name ${name} to two images: ${other.digest} and ${target.digest}`);
    named.set(name, target);
  };
  if (opts.indexName) add(opts.indexName, top);
  for (const m of kept) {
    const a = m.annotations ?? {};
    const name = a[AnnotationImageName] || (a[AnnotationRefName] ? translate(a[AnnotationRefName]) : '');
    if (name) add(name, m);
    if (opts.digests) add(`${base}@${m.digest}`, m);
  }
  return [...named].map(([name, target]) => ({ name, target }));
}

const wire = (d: OciDescriptor) => ({ media_type: d.mediaType, digest: d.digest, size: d.size, annotations: d.annotations ?? {} });

/** Imports the images of an OCI layout or docker-save tar; resolves with the image records made. */
export async function importArchive(c: BerthClient, source: AsyncIterable<Buffer | string>, opts: ImportOptions = {}): Promise<ImportedImage[]> {
  const expire = new Date(Date.now() + 24 * 3600_000).toISOString().replace(/\.\d+Z$/, 'Z');
  const { lease } = await c.leases.Create({ id: '', labels: { 'containerd.io/gc.expire': expire } });
  const lc = new BerthClient({ ...c.options, lease: lease!.id });
  try {
    const archive = await ingestArchive(lc, source, lease!.id);
    let top: TopIndex;
    if (archive.json.has('oci-layout')) top = ociTop(archive);
    else if (archive.json.has('manifest.json')) top = await dockerTop(lc, archive, lease!.id);
    else throw new Error('unrecognized image archive: neither an OCI layout (oci-layout, index.json) nor a docker save (manifest.json)');

    const topDesc: OciDescriptor = { mediaType: MediaType.ociIndex, digest: sha256(top.bytes), size: top.bytes.length };
    const want = opts.allPlatforms ? allPlatforms : onlyPlatforms(opts.platform ?? hostPlatform);
    for (const m of top.manifests) {
      if (typeof m?.digest !== 'string' || typeof m.mediaType !== 'string' || typeof m.size !== 'number')
        throw new Error(`the archive's index names an invalid descriptor: ${JSON.stringify(m).slice(0, 200)}`);
    }
    const kept = top.manifests.filter((m) => !m.platform || want(m.platform));
    const images = nameImages(topDesc, kept, opts);

    // Every blob the kept images need must be in the store now, before any image names them.
    const labels = new Map<string, Record<string, string>>();
    const { read, has } = blobs(lc);
    for (const m of kept) {
      try {
        for (const node of await walkImage(read, has, m, want)) if (node.kids.length > 0) labels.set(node.desc.digest, childGcLabels(node.kids));
      } catch (err) {
        if (err instanceof MissingBlobError) throw new Error(`the archive is incomplete: ${err.message}, and not in the content store either`);
        throw err;
      }
    }
    if (opts.indexName) {
      await putJson(lc, top.bytes, lease!.id);
      labels.set(topDesc.digest, childGcLabels(kept));
    }
    for (const [digest, l] of labels) {
      await lc.content.Update({ info: { digest, labels: l }, update_mask: { paths: Object.keys(l).map((k) => `labels.${k}`) } });
    }
    for (const { name, target } of images) {
      const image = { name, target: wire(target) };
      try {
        await lc.images.Update({ image, update_mask: { paths: ['target'] } });
      } catch (err) {
        if (!isCode(err, 'NotFound')) throw err;
        await lc.images.Create({ image });
      }
    }
    return images;
  } finally {
    lc.close();
    // what no image took is left to the garbage collector
    await c.leases.Delete({ id: lease!.id, sync: false }).catch(() => undefined);
  }
}
