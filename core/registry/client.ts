import { type Readable, Transform } from 'node:stream';
import { BerthError, type ErrorCode, isCode } from '../errors.ts';
import type { OciDescriptor } from '../oci/descriptor.ts';
import { Authorizer, type CredentialsFor } from './auth.ts';
import { type Capability, endpointFor, type HostOptions, type RegistryHost, registryHosts } from './hosts.ts';
import { checkDigest, checkManifest, contentType, digestOf, manifestAccept, manifestTypes, maxManifestSize, schema1Error, schema1Types } from './manifest.ts';
import { formatReference, manifestObject, parseReference, type Reference, repositoryName } from './reference.ts';
import { type HttpResponse, readLimited, Transport, transportError } from './transport.ts';

/**
 * An OCI distribution client: resolve a reference to a descriptor, fetch manifests (verified)
 * and blobs (streamed; the caller's content ingest verifies them), push blobs and manifests.
 * One client serves many registries; TLS options and credentials are looked up per domain.
 *
 * A domain's requests go to its hosts (hosts.ts): mirrors first for pull and resolve, each
 * failure (unreachable, 404, 5xx, bad data) moving on to the next and finally the registry
 * itself; pushes go to the first host with the push capability only. Credentials are sent to the
 * registry (or the server hosts.toml puts in its place), never to a mirror on another host.
 */
export interface ClientOptions {
  /** transport options for a registry domain (or for all) */
  hosts?: HostOptions | ((domain: string) => HostOptions);
  /** containerd-style hosts directory (`<host[:port]>/hosts.toml`); unset: no mirrors or per-host config */
  hostsDir?: string;
  credentials?: CredentialsFor;
  /** no response / no body data for this long fails the request (default 60 s) */
  timeoutMs?: number;
}

export interface Resolved {
  reference: Reference;
  /** the normalised name (`domain/path:tag` or `domain/path@digest`) */
  name: string;
  descriptor: OciDescriptor;
  /** the manifest bytes when resolving had to GET them (already verified against the digest) */
  manifest?: Buffer;
}

export interface BlobStream {
  /** bytes from `offset` to the end of the blob */
  body: Readable;
  /** the blob's full size */
  size: number;
  /** where body starts */
  offset: number;
}

/** Reads bytes [start, end) of a blob being pushed; called again for a retried request. */
export type BlobSource = (start: number, end: number) => Readable | Buffer;

export interface PushBlobOptions {
  /** another repository of the same registry that has the blob (cross-repository mount) */
  mountFrom?: string;
  /** upload in PATCH chunks of this many bytes instead of one PUT */
  chunkSize?: number;
  signal?: AbortSignal;
}

export type PushBlobResult = 'exists' | 'mounted' | 'uploaded';

/** One of a domain's hosts with its connection and authentication state. */
interface Host {
  config: RegistryHost;
  origin: string;
  transport: Transport;
  auth: Authorizer;
  /** requests carry `?ns=<domain>` (containerd's hint to a mirror of which registry is meant) */
  ns: boolean;
}

interface Call {
  method: string;
  /** path after <api root>/<repository>/, or an absolute URL (upload locations, ping) */
  path: string | URL;
  headers?: Record<string, string>;
  body?: () => Readable | Buffer;
  scopes: string[];
  signal?: AbortSignal;
  /** for error messages: what is being asked for */
  what: string;
}

const retryable = new Set([408, 429, 502, 503, 504]);
const errorBodyLimit = 64 << 10;

export class RegistryClient {
  private readonly domains = new Map<string, Host[]>();

  private readonly options: ClientOptions;

  constructor(options: ClientOptions = {}) {
    this.options = options;
  }

  /** How many bearer tokens were fetched from each registry's realm (for tests and metrics). */
  tokenFetches(domain: string): number {
    return (this.domains.get(domain) ?? []).reduce((n, h) => n + h.auth.tokenFetches, 0);
  }

  /** A domain's hosts, in order (the hosts directory is read once per client and domain). */
  private hostsOf(domain: string): Host[] {
    let hosts = this.domains.get(domain);
    if (!hosts) {
      const o = typeof this.options.hosts === 'function' ? this.options.hosts(domain) : (this.options.hosts ?? {});
      const own = endpointFor(domain).host;
      hosts = registryHosts(domain, o, this.options.hostsDir).map((config) => {
        const origin = new URL(`${config.scheme}://${config.host}`).origin;
        const transport = new Transport(origin, config.tls, this.options.timeoutMs);
        const credentialed = !config.mirror || config.host === own;
        return {
          config,
          origin,
          transport,
          auth: new Authorizer(transport, credentialed ? this.options.credentials : undefined),
          ns: config.host !== own,
        };
      });
      this.domains.set(domain, hosts);
    }
    return hosts;
  }

  close(): void {
    for (const hosts of this.domains.values()) for (const h of hosts) h.transport.close();
    this.domains.clear();
  }

  /**
   * Runs an operation on each host with the capability in turn until one succeeds; the last
   * host's failure is the one reported, with the earlier hosts' failures noted.
   */
  private async tryHosts<T>(domain: string, capability: Capability, what: string, fn: (h: Host) => Promise<T>): Promise<T> {
    const hosts = this.hostsOf(domain).filter((h) => h.config.capabilities.has(capability));
    if (hosts.length === 0) throw new BerthError('FailedPrecondition', `${what}: no host of ${domain} has the ${capability} capability (see its hosts.toml)`);
    const skipped: string[] = [];
    for (const [i, h] of hosts.entries()) {
      try {
        return await fn(h);
      } catch (err) {
        if (i === hosts.length - 1 || isCode(err, 'Canceled') || !(err instanceof BerthError)) {
          if (skipped.length > 0 && err instanceof BerthError) err.message += ` (after trying ${skipped.join('; ')})`;
          throw err;
        }
        skipped.push(`${h.origin}${h.config.path}: ${err.message}`);
      }
    }
    throw new Error('unreachable');
  }

  /** The first host that may be pushed to: a mirror only with the push capability. */
  private pushHost(domain: string, what: string): Host {
    const h = this.hostsOf(domain).find((x) => x.config.capabilities.has('push'));
    if (!h) throw new BerthError('FailedPrecondition', `${what}: no host of ${domain} has the push capability (see its hosts.toml)`);
    return h;
  }

  /** GET <api root>/ (authenticating if the registry asks) on the first host that answers. */
  async ping(domain: string, signal?: AbortSignal): Promise<void> {
    const ref: Reference = { domain, path: '' };
    const what = `registry ${domain}`;
    await this.tryHosts(domain, 'pull', what, async (h) => {
      const res = await this.call(h, ref, { method: 'GET', path: new URL(`${h.origin}${h.config.path}/`), scopes: [], signal, what });
      if (res.status !== 200) throw await statusError(res, what);
      res.body.resume();
    });
  }

  /**
   * A reference to a descriptor: HEAD the manifest, GET it when the HEAD does not say enough.
   * Hosts with the resolve capability are asked in turn.
   */
  async resolve(input: string | Reference, signal?: AbortSignal): Promise<Resolved> {
    const ref = typeof input === 'string' ? parseReference(input) : input;
    const name = formatReference(ref);
    return this.tryHosts(ref.domain, 'resolve', name, (h) => this.resolveOn(h, ref, name, signal));
  }

  private async resolveOn(h: Host, ref: Reference, name: string, signal?: AbortSignal): Promise<Resolved> {
    const call = { path: `manifests/${manifestObject(ref)}`, headers: { accept: manifestAccept }, scopes: [pullScope(ref)], signal, what: name };
    let method = 'HEAD';
    let res = await this.call(h, ref, { ...call, method });
    res.body.resume();
    if (res.status === 405) res = await this.call(h, ref, { ...call, method: (method = 'GET') });
    if (res.status !== 200) throw await statusError(res, name);

    const type = contentType(header(res, 'content-type'));
    if (schema1Types.includes(type)) throw schema1Error(name);
    const length = header(res, 'content-length');
    const size = length === undefined ? undefined : Number(length);
    if (size !== undefined && size > maxManifestSize) throw tooBig(name, size);
    const headerDigest = header(res, 'docker-content-digest');
    if (headerDigest !== undefined) checkDigest(headerDigest, `${name}: Docker-Content-Digest`);
    if (ref.digest && headerDigest && headerDigest !== ref.digest) {
      res.body.destroy();
      throw new BerthError('DataLoss', `${name}: registry answered with digest ${headerDigest}`);
    }
    const digest = ref.digest ?? headerDigest;
    if (method === 'HEAD' && digest && size !== undefined && manifestTypes.includes(type)) {
      return { reference: ref, name, descriptor: { mediaType: type, digest, size } };
    }

    if (method === 'HEAD') res = await this.call(h, ref, { ...call, method: 'GET' });
    if (res.status !== 200) throw await statusError(res, name);
    const bytes = await readManifest(res, name);
    const actual = digestOf(bytes, digest);
    if (digest && actual !== digest) throw new BerthError('DataLoss', `${name}: manifest digest mismatch: expected ${digest}, got ${actual}`);
    const mediaType = checkManifest(bytes, contentType(header(res, 'content-type')), name);
    return { reference: ref, name, descriptor: { mediaType, digest: actual, size: bytes.length }, manifest: bytes };
  }

  /** GET a manifest or index by digest, verified against the descriptor (digest, size, type). */
  async fetchManifest(input: string | Reference, desc: OciDescriptor, signal?: AbortSignal): Promise<Buffer> {
    const ref = typeof input === 'string' ? parseReference(input) : input;
    const what = `${repositoryName(ref)}@${checkDigest(desc.digest, repositoryName(ref))}`;
    if (desc.size > maxManifestSize) throw tooBig(what, desc.size);
    return this.tryHosts(ref.domain, 'pull', what, async (h) => {
      const res = await this.call(h, ref, {
        method: 'GET',
        path: `manifests/${desc.digest}`,
        headers: { accept: `${desc.mediaType}, ${manifestAccept}` },
        scopes: [pullScope(ref)],
        signal,
        what,
      });
      if (res.status !== 200) throw await statusError(res, what);
      const bytes = await readManifest(res, what);
      const actual = digestOf(bytes, desc.digest);
      if (actual !== desc.digest) throw new BerthError('DataLoss', `${what}: manifest digest mismatch: got ${actual}`);
      if (bytes.length !== desc.size) throw new BerthError('DataLoss', `${what}: manifest size mismatch: expected ${desc.size}, got ${bytes.length}`);
      checkManifest(bytes, contentType(header(res, 'content-type')), what, desc.mediaType);
      return bytes;
    });
  }

  /**
   * A blob as a stream from `offset` (a resume sends `Range: bytes=offset-`; a registry that
   * ignores it and sends everything has the prefix skipped here). Sizes are checked against the
   * descriptor; the digest is the caller's to verify, as it writes the bytes.
   */
  async fetchBlob(input: string | Reference, desc: OciDescriptor, opts: { offset?: number; signal?: AbortSignal } = {}): Promise<BlobStream> {
    const ref = typeof input === 'string' ? parseReference(input) : input;
    const what = `${repositoryName(ref)}: blob ${checkDigest(desc.digest, repositoryName(ref))}`;
    const offset = opts.offset ?? 0;
    const headers: Record<string, string> = { accept: /^[\w.+/-]+$/.test(desc.mediaType) ? `${desc.mediaType}, */*` : '*/*' };
    if (offset > 0) headers.range = `bytes=${offset}-`;
    // a host is given up on before its body is read; a stream failing later fails the fetch
    return this.tryHosts(ref.domain, 'pull', what, (h) => this.fetchBlobFrom(h, ref, desc, headers, offset, what, opts.signal));
  }

  private async fetchBlobFrom(
    h: Host,
    ref: Reference,
    desc: OciDescriptor,
    headers: Record<string, string>,
    offset: number,
    what: string,
    signal?: AbortSignal,
  ): Promise<BlobStream> {
    const res = await this.call(h, ref, { method: 'GET', path: `blobs/${desc.digest}`, headers, scopes: [pullScope(ref)], signal, what });
    if (res.status !== 200 && res.status !== 206) throw await statusError(res, what);
    const length = Number(header(res, 'content-length') ?? NaN);
    const fail = (code: ErrorCode, m: string) => {
      res.body.destroy();
      return new BerthError(code, `${what}: ${m}`);
    };
    let size: number;
    let skip = 0;
    if (res.status === 206) {
      const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header(res, 'content-range') ?? '');
      if (!m || Number(m[1]) !== offset) throw fail('DataLoss', `unexpected Content-Range "${header(res, 'content-range')}" for a request from byte ${offset}`);
      size = m[3] === '*' ? Number(m[2]) + 1 : Number(m[3]);
    } else {
      size = length;
      skip = offset;
    }
    if (desc.size >= 0 && Number.isFinite(size) && size !== desc.size)
      throw fail('DataLoss', `size mismatch: the registry has ${size} bytes, the manifest says ${desc.size}`);
    if (!Number.isFinite(size)) size = desc.size;
    if (offset > size) throw fail('OutOfRange', `offset ${offset} is past the end (${size} bytes)`);
    const body = exactly(res, size - offset, skip, what, signal);
    return { body, size, offset };
  }

  /** Whether the registry (the host pushes go to) has a blob in this repository (HEAD). */
  async hasBlob(input: string | Reference, digest: string, scopes?: string[], signal?: AbortSignal): Promise<boolean> {
    const ref = typeof input === 'string' ? parseReference(input) : input;
    const what = `${repositoryName(ref)}: blob ${checkDigest(digest, repositoryName(ref))}`;
    const res = await this.call(this.pushHost(ref.domain, what), ref, {
      method: 'HEAD',
      path: `blobs/${digest}`,
      scopes: scopes ?? [pullScope(ref)],
      signal,
      what,
    });
    res.body.resume();
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    throw await statusError(res, what);
  }

  /** Uploads a blob unless the repository has it: mount, one PUT, or PATCH chunks then PUT. */
  async pushBlob(input: string | Reference, desc: OciDescriptor, source: BlobSource, opts: PushBlobOptions = {}): Promise<PushBlobResult> {
    const ref = typeof input === 'string' ? parseReference(input) : input;
    const what = `${repositoryName(ref)}: push blob ${checkDigest(desc.digest, repositoryName(ref))}`;
    const scopes = [pushScope(ref), ...(opts.mountFrom ? [`repository:${opts.mountFrom}:pull`] : [])];
    const signal = opts.signal;
    const h = this.pushHost(ref.domain, what);
    if (await this.hasBlob(ref, desc.digest, scopes, signal)) return 'exists';

    const query = opts.mountFrom ? `?mount=${encodeURIComponent(desc.digest)}&from=${encodeURIComponent(opts.mountFrom)}` : '';
    const start = await this.call(h, ref, { method: 'POST', path: `blobs/uploads/${query}`, headers: { 'content-length': '0' }, scopes, signal, what });
    if (start.status !== 202 && !(start.status === 201 && opts.mountFrom)) throw await statusError(start, what);
    start.body.resume();
    // A mount the registry cannot do (blob or access missing) starts a normal upload (202).
    if (start.status === 201) return 'mounted';
    let location = uploadLocation(start, what);

    const chunk = opts.chunkSize ?? 0;
    let final = { method: 'PUT', length: desc.size, body: () => source(0, desc.size) };
    if (chunk > 0 && desc.size > chunk) {
      for (let from = 0; from < desc.size; from += chunk) {
        const to = Math.min(desc.size, from + chunk);
        const patch = await this.call(h, ref, {
          method: 'PATCH',
          path: location,
          headers: { 'content-type': 'application/octet-stream', 'content-length': String(to - from), 'content-range': `${from}-${to - 1}` },
          body: () => source(from, to),
          scopes,
          signal,
          what,
        });
        if (patch.status !== 202) throw await statusError(patch, `${what} (chunk at ${from})`);
        patch.body.resume();
        location = uploadLocation(patch, what);
      }
      final = { method: 'PUT', length: 0, body: () => Buffer.alloc(0) };
    }
    location.searchParams.set('digest', desc.digest);
    const put = await this.call(h, ref, {
      method: final.method,
      path: location,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(final.length) },
      body: final.body,
      scopes,
      signal,
      what,
    });
    if (put.status !== 201 && put.status !== 204) throw await statusError(put, what);
    put.body.resume();
    const got = header(put, 'docker-content-digest');
    if (got && got !== desc.digest) throw new BerthError('DataLoss', `${what}: registry stored digest ${got}`);
    return 'uploaded';
  }

  /** PUT a manifest or index under a tag (or its digest when no tag is given). */
  async pushManifest(input: string | Reference, desc: OciDescriptor, bytes: Buffer, tag?: string, signal?: AbortSignal): Promise<void> {
    const ref = typeof input === 'string' ? parseReference(input) : input;
    const object = tag ?? checkDigest(desc.digest, repositoryName(ref));
    const what = `${repositoryName(ref)}: push manifest ${object}`;
    if (digestOf(bytes, desc.digest) !== desc.digest || bytes.length !== desc.size)
      throw new BerthError('InvalidArgument', `${what}: bytes do not match ${desc.digest}`);
    const res = await this.call(this.pushHost(ref.domain, what), ref, {
      method: 'PUT',
      path: `manifests/${object}`,
      headers: { 'content-type': desc.mediaType },
      body: () => bytes,
      scopes: [pushScope(ref)],
      signal,
      what,
    });
    if (res.status !== 201 && res.status !== 200) throw await statusError(res, what);
    res.body.resume();
    const got = header(res, 'docker-content-digest');
    if (got && got !== desc.digest) throw new BerthError('DataLoss', `${what}: registry stored digest ${got}`);
  }

  /**
   * One registry call with auth: a 401 teaches the authorizer and the call is retried; a token
   * refused twice ends with Unauthenticated (never a loop). 408/429/5xx are retried twice.
   */
  private async call(h: Host, ref: Reference, c: Call): Promise<HttpResponse> {
    const { transport, auth, origin } = h;
    let url = c.path;
    if (!(url instanceof URL)) {
      url = new URL(`${origin}${h.config.path}/${ref.path}/${c.path}`);
      if (h.ns) url.searchParams.set('ns', ref.domain);
    }
    const sameOrigin = url.origin === origin;
    let refused = 0;
    let retries = 0;
    for (let attempt = 0; ; attempt++) {
      const authorization = sameOrigin ? await auth.header(ref.domain, c.scopes) : undefined;
      const headers = { ...(sameOrigin ? h.config.header : {}), ...c.headers, ...(authorization ? { authorization } : {}) };
      let res: HttpResponse;
      try {
        res = await transport.send({ method: c.method, url, headers, body: c.body, signal: c.signal });
      } catch (err) {
        throw transportError(url, err);
      }
      if (res.status === 401 && sameOrigin) {
        res.body.resume();
        if (authorization) refused++;
        const again = refused < 2 && attempt < 3 && auth.challenged(ref.domain, c.scopes, res.headers['www-authenticate'], authorization);
        if (again) continue;
        throw new BerthError('Unauthenticated', `${c.what}: ${unauthorizedReason(authorization, c.scopes)}`);
      }
      if (retryable.has(res.status) && retries < 2) {
        res.body.resume();
        retries++;
        await new Promise((r) => setTimeout(r, 250 * retries));
        continue;
      }
      return res;
    }
  }
}

function unauthorizedReason(sent: string | undefined, scopes: string[]): string {
  if (!sent) return 'authentication required (no credentials for this registry)';
  if (sent.startsWith('Basic ')) return 'unauthorized: the registry refused the credentials';
  return `unauthorized: the registry refused the token for ${scopes.join(' ') || 'its API'} (the repository may not exist, or needs other credentials)`;
}

export const pullScope = (ref: Reference) => `repository:${ref.path}:pull`;
export const pushScope = (ref: Reference) => `repository:${ref.path}:pull,push`;

function header(res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

const tooBig = (what: string, size: number) =>
  new BerthError('FailedPrecondition', `${what}: manifest of ${size} bytes is over the ${maxManifestSize} byte limit`);

async function readManifest(res: HttpResponse, what: string): Promise<Buffer> {
  const length = Number(header(res, 'content-length') ?? 0);
  if (length > maxManifestSize) {
    res.body.destroy();
    throw tooBig(what, length);
  }
  try {
    return await readLimited(res.body, maxManifestSize, `${what}: manifest`);
  } catch (err) {
    throw transportError(res.url, err);
  }
}

function uploadLocation(res: HttpResponse, what: string): URL {
  const loc = header(res, 'location');
  if (!loc) throw new BerthError('Unknown', `${what}: registry gave no upload location`);
  return new URL(loc, res.url);
}

/** The registry's error document, one line: `MANIFEST_UNKNOWN: manifest unknown`. */
async function registryMessage(res: HttpResponse): Promise<string> {
  try {
    const text = (await readLimited(res.body, errorBodyLimit, 'error body')).toString('utf8');
    const errors = (JSON.parse(text) as { errors?: { code?: string; message?: string }[] }).errors ?? [];
    return errors.map((e) => [e.code, e.message].filter(Boolean).join(': ')).join('; ');
  } catch {
    res.body.destroy();
    return '';
  }
}

async function statusError(res: HttpResponse, what: string): Promise<BerthError> {
  const detail = await registryMessage(res);
  const tail = detail ? ` (${detail})` : '';
  switch (true) {
    case res.status === 401:
      return new BerthError('Unauthenticated', `${what}: authentication required${tail}`);
    case res.status === 403:
      return new BerthError('PermissionDenied', `${what}: access denied${tail}`);
    case res.status === 404:
      return new BerthError('NotFound', `${what}${tail}: not found`);
    case res.status === 416:
      return new BerthError('OutOfRange', `${what}: requested range not satisfiable`);
    case retryable.has(res.status) || res.status >= 500:
      return new BerthError('Unavailable', `${what}: registry answered ${res.status}${tail}`);
    default:
      return new BerthError('Unknown', `${what}: unexpected status ${res.status}${tail}`);
  }
}

/**
 * The body, made to be exactly `expected` bytes after skipping `skip`: a short body (connection
 * lost, Content-Length lie) fails the stream with a message saying how far it got.
 */
function exactly(res: HttpResponse, expected: number, skip: number, what: string, signal?: AbortSignal): Readable {
  let seen = 0;
  let toSkip = skip;
  const out = new Transform({
    transform(chunk: Buffer, _enc, done) {
      if (toSkip > 0) {
        const n = Math.min(toSkip, chunk.length);
        toSkip -= n;
        chunk = chunk.subarray(n);
        if (chunk.length === 0) return done();
      }
      seen += chunk.length;
      if (seen > expected) return done(new BerthError('DataLoss', `${what}: more data than the ${expected} bytes expected`));
      done(null, chunk);
    },
    flush(done) {
      if (toSkip > 0 || seen !== expected) return done(new BerthError('DataLoss', `${what}: truncated: got ${seen} of ${expected} bytes`));
      done();
    },
  });
  const lost = (err?: unknown) => {
    if (signal?.aborted) return out.destroy(new BerthError('Canceled', `${what}: canceled after ${seen} of ${expected} bytes`));
    const why = err ? `: ${transportError(res.url, err).message}` : '';
    out.destroy(new BerthError('Unavailable', `${what}: connection lost after ${seen} of ${expected} bytes${why}`));
  };
  res.body.on('error', lost);
  res.body.on('aborted', () => lost());
  out.on('close', () => res.body.destroy());
  res.body.pipe(out);
  return out;
}
