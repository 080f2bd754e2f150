import { createHash, randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MediaType } from '../core/oci/descriptor.ts';
import { userPass } from '../core/registry/auth.ts';
import { RegistryClient } from '../core/registry/client.ts';
import { verifyDigest } from '../core/registry/verify.ts';
import { cutAfter, type Hostile, startHostile } from './support/registry/hostile.ts';
import { failure } from './support/util.ts';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const blob = randomBytes(300_000);
const blobDesc = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(blob), size: blob.length };
const blobPath = `/v2/bad/img/blobs/${blobDesc.digest}`;

async function collect(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** Drains a stream through the digest verifier; the error it ends with, or 'ok'. */
async function drainVerified(body: Readable, desc = blobDesc): Promise<string> {
  try {
    await pipeline(body, verifyDigest(desc), async function* (src) {
      for await (const _ of src) yield* [];
    });
    return 'ok';
  } catch (err) {
    return `${(err as { code?: string }).code}: ${(err as Error).message}`;
  }
}

describe('registry client against a hostile registry', () => {
  let bad: Hostile;
  let client: RegistryClient;
  let ref: string;
  beforeAll(async () => {
    bad = await startHostile();
    ref = `${bad.host}/bad/img`;
  });
  afterEach(() => {
    client?.close();
    bad.requests.length = 0;
  });
  afterAll(async () => {
    await bad?.close();
  });
  const fresh = (opts = {}) => (client = new RegistryClient(opts));

  it('a blob whose bytes do not match its digest: digest mismatch', async () => {
    const other = randomBytes(blob.length);
    bad.route('GET', blobPath, (_q, res) => res.writeHead(200, { 'content-length': other.length }).end(other));
    const got = await fresh().fetchBlob(ref, blobDesc);
    expect(await drainVerified(got.body)).toBe(`DataLoss: digest mismatch for ${blobDesc.digest}: got ${sha(other)}`);
  });

  it('a truncated body (connection cut): clear error saying how far it got', async () => {
    bad.route('GET', blobPath, (_q, res) => cutAfter(res, { 'content-length': blob.length }, blob.subarray(0, 1000)));
    const got = await fresh().fetchBlob(ref, blobDesc);
    const e = await drainVerified(got.body);
    expect(e).toMatch(/^Unavailable: .*blob sha256:[a-f0-9]{64}: connection lost after 1000 of 300000 bytes/);
  });

  it('a Content-Length that disagrees with the descriptor is refused before reading', async () => {
    bad.route('GET', blobPath, (_q, res) => res.writeHead(200, { 'content-length': blob.length + 10 }).end(Buffer.concat([blob, Buffer.alloc(10)])));
    const e = await failure(fresh().fetchBlob(ref, blobDesc));
    expect(e.code).toBe('DataLoss');
    expect(e.message).toMatch(/size mismatch: the registry has 300010 bytes, the manifest says 300000/);
  });

  it('a blob of the right size but a body cut short after a lying Content-Length', async () => {
    bad.route('GET', blobPath, (_q, res) => cutAfter(res, { 'content-length': blob.length }, blob.subarray(0, blob.length - 5)));
    const got = await fresh().fetchBlob(ref, blobDesc);
    expect(await drainVerified(got.body)).toMatch(/connection lost after 299995 of 300000 bytes/);
  });

  it('a connection dropped half-way, then a Range resume (206) completes the blob', async () => {
    const half = 150_000;
    bad.route('GET', blobPath, (q, res, nth) => {
      if (nth === 1) return cutAfter(res, { 'content-length': blob.length }, blob.subarray(0, half));
      const m = /^bytes=(\d+)-$/.exec(q.headers.range ?? '');
      const from = Number(m![1]);
      res.writeHead(206, { 'content-length': blob.length - from, 'content-range': `bytes ${from}-${blob.length - 1}/${blob.length}` }).end(blob.subarray(from));
    });
    const c = fresh();
    const first = await c.fetchBlob(ref, blobDesc);
    const parts: Buffer[] = [];
    const err = await new Promise<Error | undefined>((resolve) => {
      first.body.on('data', (b: Buffer) => parts.push(b));
      first.body.on('error', resolve);
      first.body.on('end', () => resolve(undefined));
    });
    expect(err?.message).toMatch(/connection lost/);
    const have = Buffer.concat(parts);
    expect(have.length).toBe(half);
    const rest = await c.fetchBlob(ref, blobDesc, { offset: have.length });
    expect(rest.offset).toBe(half);
    expect(rest.size).toBe(blob.length);
    expect(bad.requests.at(-1)!.headers.range).toBe(`bytes=${half}-`);
    const whole = Buffer.concat([have, await collect(rest.body)]);
    expect(sha(whole)).toBe(blobDesc.digest);
  });

  it('a resume against a registry that ignores Range (200, whole body) skips the prefix', async () => {
    bad.route('GET', blobPath, (_q, res) => res.writeHead(200, { 'content-length': blob.length }).end(blob));
    const rest = await fresh().fetchBlob(ref, blobDesc, { offset: 1234 });
    expect(bad.requests.at(-1)!.headers.range).toBe('bytes=1234-');
    const tail = await collect(rest.body);
    expect(tail.equals(blob.subarray(1234))).toBe(true);
  });

  it('a 206 starting at the wrong offset is refused', async () => {
    bad.route('GET', blobPath, (_q, res) =>
      res.writeHead(206, { 'content-length': blob.length, 'content-range': `bytes 0-${blob.length - 1}/${blob.length}` }).end(blob),
    );
    const e = await failure(fresh().fetchBlob(ref, blobDesc, { offset: 10 }));
    expect(e.code).toBe('DataLoss');
    expect(e.message).toMatch(/unexpected Content-Range/);
  });

  it('a manifest over 4 MiB is refused (declared size, and streamed without a length)', async () => {
    const big = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, pad: 'x'.repeat(5 << 20) }));
    bad.route('HEAD', '/v2/bad/img/manifests/big', (_q, res) =>
      res.writeHead(200, { 'content-type': MediaType.ociManifest, 'content-length': big.length, 'docker-content-digest': sha(big) }).end(),
    );
    const e = await failure(fresh().resolve(`${ref}:big`));
    expect(e.code).toBe('FailedPrecondition');
    expect(e.message).toMatch(/over the 4194304 byte limit/);
    bad.route('HEAD', '/v2/bad/img/manifests/chunked', (_q, res) => res.writeHead(200, { 'content-type': MediaType.ociManifest }).end());
    bad.route('GET', '/v2/bad/img/manifests/chunked', (_q, res) => {
      res.writeHead(200, { 'content-type': MediaType.ociManifest, 'transfer-encoding': 'chunked' });
      res.end(big);
    });
    const e2 = await failure(fresh().resolve(`${ref}:chunked`));
    expect(e2.code).toBe('FailedPrecondition');
    expect(e2.message).toMatch(/over the 4194304 byte limit/);
  });

  it('a schema 1 manifest is refused with a clear message', async () => {
    const s1 = Buffer.from(JSON.stringify({ schemaVersion: 1, name: 'bad/img', tag: 'old', fsLayers: [], history: [] }));
    bad.route('HEAD', '/v2/bad/img/manifests/old', (_q, res) =>
      res
        .writeHead(200, {
          'content-type': 'application/vnd.docker.distribution.manifest.v1+prettyjws',
          'content-length': s1.length,
          'docker-content-digest': sha(s1),
        })
        .end(),
    );
    const e = await failure(fresh().resolve(`${ref}:old`));
    expect(e.code).toBe('Unimplemented');
    expect(e.message).toMatch(/schema 1 manifests are not supported/);
    // served as plain JSON, recognised by its schemaVersion
    bad.route('HEAD', '/v2/bad/img/manifests/old2', (_q, res) => res.writeHead(200, { 'content-type': 'application/json' }).end());
    bad.route('GET', '/v2/bad/img/manifests/old2', (_q, res) =>
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': s1.length }).end(s1),
    );
    expect((await failure(fresh().resolve(`${ref}:old2`))).message).toMatch(/schema 1/);
  });

  it('a manifest fetched by digest that does not match it is refused', async () => {
    const real = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: blobDesc, layers: [] }));
    const fake = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: blobDesc, layers: [blobDesc] }));
    const desc = { mediaType: MediaType.ociManifest, digest: sha(real), size: real.length };
    bad.route('GET', `/v2/bad/img/manifests/${desc.digest}`, (_q, res) =>
      res.writeHead(200, { 'content-type': MediaType.ociManifest, 'content-length': fake.length }).end(fake),
    );
    const e = await failure(fresh().fetchManifest(ref, desc));
    expect(e.code).toBe('DataLoss');
    expect(e.message).toMatch(/manifest digest mismatch/);
    // resolving by digest checks the bytes as well
    bad.route('HEAD', `/v2/bad/img/manifests/${desc.digest}`, (_q, res) => res.writeHead(200, { 'content-type': MediaType.ociManifest }).end());
    expect((await failure(fresh().resolve(`${ref}@${desc.digest}`))).message).toMatch(/manifest digest mismatch/);
  });

  it('an ambiguous document (index with layers) is refused', async () => {
    const amb = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [], layers: [blobDesc] }));
    const desc = { mediaType: MediaType.ociIndex, digest: sha(amb), size: amb.length };
    bad.route('GET', `/v2/bad/img/manifests/${desc.digest}`, (_q, res) => res.writeHead(200, { 'content-type': MediaType.ociIndex }).end(amb));
    const e = await failure(fresh().fetchManifest(ref, desc));
    expect(e.code).toBe('DataLoss');
    expect(e.message).toMatch(/expected index but found manifest fields/);
    const asManifest = { ...desc, mediaType: MediaType.ociManifest };
    expect((await failure(fresh().fetchManifest(ref, asManifest))).message).toMatch(
      /expected application\/vnd.oci.image.manifest.v1\+json but the registry served/,
    );
  });

  it('an invalid Docker-Content-Digest header is refused (never used in a path)', async () => {
    bad.route('HEAD', '/v2/bad/img/manifests/evil', (_q, res) =>
      res.writeHead(200, { 'content-type': MediaType.ociManifest, 'content-length': 10, 'docker-content-digest': 'sha256:../../../../tmp/PWN' }).end(),
    );
    const e = await failure(fresh().resolve(`${ref}:evil`));
    expect(e.code).toBe('DataLoss');
    expect(e.message).toMatch(/invalid digest/);
  });

  it('follows a redirect to another origin without sending the credentials there', async () => {
    const other = await startHostile();
    try {
      other.route('GET', '/storage/blob', (_q, res) => res.writeHead(200, { 'content-length': blob.length }).end(blob));
      bad.route('GET', blobPath, (q, res) => {
        if (!q.headers.authorization) return void res.writeHead(401, { 'www-authenticate': 'Basic realm="hostile"' }).end();
        res.writeHead(307, { location: `${other.origin}/storage/blob` }).end();
      });
      const got = await fresh({ credentials: userPass('u:p') }).fetchBlob(ref, blobDesc);
      expect(await drainVerified(got.body)).toBe('ok');
      expect(bad.requests.at(-1)!.headers.authorization).toMatch(/^Basic /);
      expect(other.requests).toHaveLength(1);
      expect(other.requests[0].headers.authorization).toBeUndefined();
    } finally {
      await other.close();
    }
  });

  it('a stalled body fails after the idle timeout instead of hanging', async () => {
    bad.route('GET', blobPath, (_q, res) => {
      res.writeHead(200, { 'content-length': blob.length });
      res.write(blob.subarray(0, 100));
    });
    const got = await fresh({ timeoutMs: 300 }).fetchBlob(ref, blobDesc);
    expect(await drainVerified(got.body)).toMatch(/^Unavailable: .*(stalled|connection lost after 100 of 300000)/);
  });

  it('an aborted download ends with Canceled', async () => {
    bad.route('GET', blobPath, (_q, res) => {
      res.writeHead(200, { 'content-length': blob.length });
      res.write(blob.subarray(0, 100));
    });
    const ac = new AbortController();
    const got = await fresh().fetchBlob(ref, blobDesc, { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    expect(await drainVerified(got.body)).toMatch(/^Canceled: /);
    expect((await failure(fresh().fetchBlob(ref, blobDesc, { signal: AbortSignal.abort() }))).code).toBe('Canceled');
  });

  it('a 401 loop from a registry that keeps refusing a basic login ends after one retry', async () => {
    bad.route('HEAD', '/v2/bad/img/manifests/loop', (_q, res) => res.writeHead(401, { 'www-authenticate': 'Basic realm="x"' }).end());
    const e = await failure(fresh({ credentials: userPass('u:p') }).resolve(`${ref}:loop`));
    expect(e.code).toBe('Unauthenticated');
    expect(e.message).toMatch(/unauthorized/);
    expect(bad.requests.filter((r) => r.path.endsWith('/loop')).length).toBeLessThanOrEqual(3);
  });

  it('retries 503 a bounded number of times, then reports Unavailable', async () => {
    bad.route('HEAD', '/v2/bad/img/manifests/busy', (_q, res) => res.writeHead(503).end());
    const e = await failure(fresh().resolve(`${ref}:busy`));
    expect(e.code).toBe('Unavailable');
    expect(bad.requests.filter((r) => r.path.endsWith('/busy')).length).toBe(3);
  });
});
