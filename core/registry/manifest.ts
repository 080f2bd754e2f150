import { createHash } from 'node:crypto';
import { parseDigest } from '../digest.ts';
import { BerthError } from '../errors.ts';
import { MediaType } from '../oci/descriptor.ts';

/** Manifests, indexes and configs are small; anything bigger is refused before it is read. */
export const maxManifestSize = 4 << 20;

export const schema1Types = ['application/vnd.docker.distribution.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v1+prettyjws'];

export const manifestTypes: readonly string[] = [MediaType.ociIndex, MediaType.ociManifest, MediaType.dockerList, MediaType.dockerManifest];

// What a resolve asks registries for: containerd's list, with any type last for artifacts.
export const manifestAccept = [MediaType.dockerManifest, MediaType.dockerList, MediaType.ociManifest, MediaType.ociIndex, '*/*'].join(', ');

export const schema1Error = (what: string) =>
  new BerthError('Unimplemented', `${what}: Docker schema 1 manifests are not supported (re-push the image with a current Docker or buildkit)`);

/** The media type in a Content-Type header, without parameters. */
export function contentType(header: string | undefined): string {
  return (header ?? '').split(';')[0].trim().toLowerCase();
}

/** `sha256:<hex>` of bytes, with the algorithm of `like` (sha256 unless it says sha512). */
export function digestOf(bytes: Buffer, like = 'sha256:'): string {
  const algorithm = like.startsWith('sha512:') ? 'sha512' : 'sha256';
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}

/** Validates a digest before it goes into a URL or a path (H-62); DataLoss names its source. */
export function checkDigest(digest: string, from: string): string {
  try {
    parseDigest(digest);
  } catch {
    throw new BerthError('DataLoss', `${from}: invalid digest "${digest.slice(0, 80)}"`);
  }
  return digest;
}

/**
 * The media type of a manifest body, checked against the Content-Type and the descriptor that
 * named it; refuses schema 1, unknown types and ambiguous documents (CVE-2021-41190).
 */
export function checkManifest(bytes: Buffer, headerType: string, what: string, expected?: string): string {
  if (schema1Types.includes(headerType) || headerType === 'text/plain') throw schema1Error(what);
  let doc: { schemaVersion?: number; mediaType?: string; manifests?: unknown; config?: unknown; layers?: unknown };
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new BerthError('DataLoss', `${what}: manifest is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null) throw new BerthError('DataLoss', `${what}: manifest is not a JSON object`);
  if (doc.schemaVersion === 1) throw schema1Error(what);
  let type = manifestTypes.includes(headerType) ? headerType : (doc.mediaType ?? '');
  if (!type) type = doc.manifests !== undefined ? MediaType.ociIndex : MediaType.ociManifest;
  if (doc.mediaType && doc.mediaType !== type) throw new BerthError('DataLoss', `${what}: manifest says media type ${doc.mediaType} but was served as ${type}`);
  if (expected && manifestTypes.includes(expected) && expected !== type)
    throw new BerthError('DataLoss', `${what}: expected ${expected} but the registry served ${type}`);
  if (!manifestTypes.includes(type)) throw new BerthError('Unimplemented', `${what}: unsupported manifest media type ${type}`);
  const index = type === MediaType.ociIndex || type === MediaType.dockerList;
  if (index && (doc.config !== undefined || doc.layers !== undefined))
    throw new BerthError('DataLoss', `${what}: expected index but found manifest fields (config/layers)`);
  if (!index && doc.manifests !== undefined) throw new BerthError('DataLoss', `${what}: expected manifest but found index`);
  return type;
}
