import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OciDescriptor } from '../core/oci/descriptor.ts';
import { userPass } from '../core/registry/auth.ts';
import { RegistryClient } from '../core/registry/client.ts';
import { parseReference } from '../core/registry/reference.ts';
import { buildTestImage, layerNames, pushImage, type TestImage } from './support/registry/images.ts';
import { startRegistry, type TestRegistry } from './support/registry/registry.ts';
import { failure } from './support/util.ts';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function readAll(body: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of body) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** Pulls every blob of an image back through the client and checks bytes and digests. */
async function pullAndCompare(client: RegistryClient, ref: string, img: TestImage): Promise<void> {
  const resolved = await client.resolve(ref);
  expect(resolved.descriptor.digest).toBe(img.root.digest);
  expect(resolved.descriptor.size).toBe(img.root.size);
  expect(resolved.descriptor.mediaType).toBe(img.root.mediaType);
  const seen = new Set<string>();
  const walk = async (desc: OciDescriptor) => {
    const bytes = await client.fetchManifest(resolved.reference, desc);
    expect(bytes.equals(img.blobs.get(desc.digest)!)).toBe(true);
    const doc = JSON.parse(bytes.toString()) as { manifests?: OciDescriptor[]; config?: OciDescriptor; layers?: OciDescriptor[] };
    for (const m of doc.manifests ?? []) await walk(m);
    for (const b of [...(doc.config ? [doc.config] : []), ...(doc.layers ?? [])]) {
      if (seen.has(b.digest)) continue;
      seen.add(b.digest);
      const blob = await client.fetchBlob(resolved.reference, b);
      expect(blob.size).toBe(b.size);
      const got = await readAll(blob.body);
      expect(sha(got)).toBe(b.digest);
    }
  };
  await walk(resolved.descriptor);
  expect(seen.size).toBeGreaterThan(1);
}

describe('registry client against docker-registry (plain HTTP)', () => {
  let reg: TestRegistry;
  let client: RegistryClient;
  beforeAll(async () => {
    reg = await startRegistry();
    client = new RegistryClient();
  });
  afterAll(async () => {
    client?.close();
    await reg?.stop();
  });

  it('pings', async () => {
    await client.ping(reg.host);
  });

  it('pushes a single-layer busybox image (monolithic) and pulls it back byte for byte', async () => {
    const img = buildTestImage({ kind: 'single' });
    expect(layerNames(img.blobs.get(img.layers[0].digest)!)).toContain('bin/busybox');
    const ref = parseReference(`${reg.host}/test/busybox:1`);
    const results = await pushImage(client, ref, img);
    expect(Object.values(results).every((r) => r === 'uploaded')).toBe(true);
    await pullAndCompare(client, `${reg.host}/test/busybox:1`, img);
    // a second push finds every blob on the registry
    const again = await pushImage(client, ref, img);
    expect(Object.values(again).every((r) => r === 'exists')).toBe(true);
  });

  it('pushes a multi-layer image with whiteouts in chunks (PATCH) and pulls it back', async () => {
    const img = buildTestImage({ kind: 'multi', label: 'chunked' });
    expect(layerNames(img.blobs.get(img.layers[1].digest)!)).toEqual(expect.arrayContaining(['etc/.wh.old-file', 'etc/old-dir/.wh..wh..opq']));
    await pushImage(client, parseReference(`${reg.host}/test/multi:2`), img, { chunkSize: 256 << 10 });
    await pullAndCompare(client, `${reg.host}/test/multi:2`, img);
  });

  it('pushes a multi-platform index (Docker media types) and pulls it back', async () => {
    const img = buildTestImage({ kind: 'index', format: 'docker', label: 'index' });
    await pushImage(client, parseReference(`${reg.host}/test/index:latest`), img);
    await pullAndCompare(client, `${reg.host}/test/index`, img);
    const byDigest = await client.resolve(`${reg.host}/test/index@${img.root.digest}`);
    expect(byDigest.descriptor.digest).toBe(img.root.digest);
  });

  it('mounts blobs across repositories of one registry', async () => {
    const img = buildTestImage({ kind: 'single' });
    const results = await pushImage(client, parseReference(`${reg.host}/other/copy:1`), img, { mountFrom: 'test/busybox' });
    expect(Object.values(results).every((r) => r === 'mounted')).toBe(true);
    await pullAndCompare(client, `${reg.host}/other/copy:1`, img);
  });

  it('reports an unknown tag or repository as NotFound naming the reference', async () => {
    const e = await failure(client.resolve(`${reg.host}/test/busybox:nope`));
    expect(e.code).toBe('NotFound');
    expect(e.message).toContain(`${reg.host}/test/busybox:nope`);
    expect((await failure(client.resolve(`${reg.host}/no/such:1`))).code).toBe('NotFound');
    const missing = { mediaType: 'application/octet-stream', digest: `sha256:${'0'.repeat(64)}`, size: 1 };
    expect((await failure(client.fetchBlob(`${reg.host}/test/busybox:1`, missing))).code).toBe('NotFound');
  });

  it('reports an unreachable registry as Unavailable', async () => {
    const e = await failure(client.resolve('127.0.0.1:1/x:1'));
    expect(e.code).toBe('Unavailable');
    expect(e.message).toMatch(/127\.0\.0\.1:1.*unreachable/);
  });
});

describe('registry client over TLS', () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startRegistry({ tls: true });
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it('pushes and pulls with the test CA', async () => {
    const client = new RegistryClient({ hosts: { ca: reg.ca!.caPem } });
    try {
      const img = buildTestImage({ kind: 'single' });
      await pushImage(client, parseReference(`${reg.host}/tls/busybox:1`), img);
      await pullAndCompare(client, `${reg.host}/tls/busybox:1`, img);
    } finally {
      client.close();
    }
  });

  it('fails clearly without the CA, and works with skip-verify', async () => {
    const strict = new RegistryClient({ hosts: { plainHttp: false } });
    const e = await failure(strict.ping(reg.host));
    strict.close();
    expect(e.code).toBe('Unavailable');
    expect(e.message).toMatch(/TLS failure.*--tls-ca/);
    const loose = new RegistryClient({ hosts: { skipVerify: true } });
    await loose.ping(reg.host);
    loose.close();
  });

  it('suggests --plain-http when https meets a plain registry', async () => {
    const plain = await startRegistry();
    const c = new RegistryClient({ hosts: { plainHttp: false } });
    try {
      const e = await failure(c.ping(plain.host));
      expect(e.message).toMatch(/TLS failure.*plain-http/);
    } finally {
      c.close();
      await plain.stop();
    }
  });
});

describe('registry client with token auth', () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startRegistry({ token: { users: { alice: 'secret' } } });
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it('fetches bearer tokens from the realm, reuses them per scope, and pushes and pulls', async () => {
    const client = new RegistryClient({ credentials: userPass('alice:secret') });
    try {
      await client.ping(reg.host);
      const img = buildTestImage({ kind: 'multi' });
      await pushImage(client, parseReference(`${reg.host}/tok/busybox:1`), img);
      await pullAndCompare(client, `${reg.host}/tok/busybox:1`, img);
      const scopes = reg.tokenServer!.requests.map((r) => r.scopes.join(' '));
      expect(scopes.some((s) => s.split(' ').includes('repository:tok/busybox:pull,push'))).toBe(true);
      expect(scopes).toContain('repository:tok/busybox:pull');
      // one token per scope set, not one per request
      expect(client.tokenFetches(reg.host)).toBeLessThanOrEqual(3);
      expect(reg.tokenServer!.requests.every((r) => r.user === 'alice')).toBe(true);
    } finally {
      client.close();
    }
  });

  it('parallel requests for one scope share one token', async () => {
    const client = new RegistryClient({ credentials: userPass('alice:secret') });
    try {
      const { descriptor, reference } = await client.resolve(`${reg.host}/tok/busybox:1`);
      const bytes = await client.fetchManifest(reference, descriptor);
      const layers = (JSON.parse(bytes.toString()) as { layers: OciDescriptor[] }).layers;
      await Promise.all([...layers, ...layers, ...layers].map(async (l) => readAll((await client.fetchBlob(reference, l)).body)));
      expect(client.tokenFetches(reg.host)).toBe(1);
    } finally {
      client.close();
    }
  });

  it('a token the registry refuses is refreshed once, then the request succeeds', async () => {
    const flaky = await startRegistry({ token: { denyFirst: 1 } });
    const client = new RegistryClient();
    try {
      await pushImage(client, parseReference(`${flaky.host}/tok/x:1`), buildTestImage({ kind: 'single' }));
      expect(flaky.tokenServer!.requests.length).toBeGreaterThanOrEqual(2);
      const r = await client.resolve(`${flaky.host}/tok/x:1`);
      expect(r.descriptor.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    } finally {
      client.close();
      await flaky.stop();
    }
  });

  it('bad credentials end with Unauthenticated', async () => {
    const client = new RegistryClient({ credentials: userPass('alice:wrong') });
    const e = await failure(client.resolve(`${reg.host}/tok/busybox:1`));
    client.close();
    expect(e.code).toBe('Unauthenticated');
    expect(e.message).toMatch(/unauthorized/);
  });

  it('a registry that refuses every token (401 loop) ends with Unauthenticated after a bounded number of tries', async () => {
    const denying = await startRegistry({ token: { deny: true } });
    const client = new RegistryClient();
    try {
      const e = await failure(client.resolve(`${denying.host}/tok/busybox:1`));
      expect(e.code).toBe('Unauthenticated');
      expect(e.message).toMatch(/unauthorized|authentication required/);
      expect(denying.tokenServer!.requests.length).toBeLessThanOrEqual(2);
    } finally {
      client.close();
      await denying.stop();
    }
  });
});

describe('registry client with htpasswd basic auth', () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startRegistry({ htpasswd: { bob: 'hunter2' } });
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it('pushes and pulls with user:pass', async () => {
    const client = new RegistryClient({ credentials: userPass('bob:hunter2') });
    try {
      const img = buildTestImage({ kind: 'single' });
      await pushImage(client, parseReference(`${reg.host}/basic/busybox:1`), img);
      await pullAndCompare(client, `${reg.host}/basic/busybox:1`, img);
    } finally {
      client.close();
    }
  });

  it('without credentials: authentication required; wrong ones: unauthorized', async () => {
    const anon = new RegistryClient();
    const e = await failure(anon.resolve(`${reg.host}/basic/busybox:1`));
    anon.close();
    expect(e.code).toBe('Unauthenticated');
    expect(e.message).toMatch(/authentication required/);
    const wrong = new RegistryClient({ credentials: userPass('bob:nope') });
    const e2 = await failure(wrong.resolve(`${reg.host}/basic/busybox:1`));
    wrong.close();
    expect(e2.code).toBe('Unauthenticated');
    expect(e2.message).toMatch(/unauthorized/);
  });
});
