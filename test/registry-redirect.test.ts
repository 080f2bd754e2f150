import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { userPass } from '../core/registry/auth.ts';
import { RegistryClient } from '../core/registry/client.ts';
import { makeClientCert, makeServerCert } from './support/registry/certs.ts';
import { failure, sha } from './support/util.ts';

/**
 * Registries redirect blob GETs to storage backends on other origins, and hand out upload
 * locations on other origins: only the registry's own origin may see the credentials berth
 * holds for it (Authorization, hosts.toml headers, which may carry a Cookie, and the client
 * certificate). Each server here records what it was sent, client certificate included.
 */
interface Seen {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  /** the subject CN of the client certificate the peer presented, if any */
  clientCert?: string | string[];
}

interface Recorder {
  origin: string;
  seen: Seen[];
  route(method: string, path: string, h: (req: IncomingMessage, res: ServerResponse) => void): void;
  close(): Promise<void>;
}

async function startRecorder(tls?: { key: Buffer; cert: Buffer; ca: Buffer }): Promise<Recorder> {
  const routes = new Map<string, (req: IncomingMessage, res: ServerResponse) => void>();
  const seen: Seen[] = [];
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const peer = tls ? (req.socket as TLSSocket).getPeerCertificate() : undefined;
    seen.push({ method: req.method ?? '', path, headers: req.headers, clientCert: peer?.subject?.CN });
    const h = routes.get(`${req.method} ${path}`);
    if (h) return h(req, res);
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"NAME_UNKNOWN","message":"not here"}]}');
  };
  const server: Server | ReturnType<typeof createHttpServer> = tls
    ? createServer({ ...tls, requestCert: true, rejectUnauthorized: false }, handle)
    : createHttpServer(handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    origin: `${tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    route: (method, path, h) => void routes.set(`${method} ${path}`, h),
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const blob = randomBytes(50_000);
const desc = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(blob), size: blob.length };

describe('registry credentials never follow the registry to another origin', () => {
  let dir: string;
  let registry: Recorder;
  let storage: Recorder;
  let realm: Recorder;
  let client: RegistryClient;
  let ref: string;
  const blobPath = `/v2/app/blobs/${desc.digest}`;

  beforeAll(async () => {
    dir = mkdtempSync('/tmp/berth-redirect-');
    const ca = await makeServerCert(dir);
    const clientCert = await makeClientCert(dir);
    const tls = { key: readFileSync(ca.keyFile), cert: readFileSync(ca.certFile), ca: readFileSync(ca.caFile) };
    [registry, storage, realm] = await Promise.all([startRecorder(tls), startRecorder(tls), startRecorder()]);
    const host = new URL(registry.origin).host;
    ref = `${host}/app`;
    const hostDir = join(dir, 'certs.d', `${host.replace(':', '_')}_`);
    mkdirSync(hostDir, { recursive: true });
    writeFileSync(
      join(hostDir, 'hosts.toml'),
      [
        `server = "${registry.origin}"`,
        `ca = "${ca.caFile}"`,
        `client = [["${clientCert.certFile}", "${clientCert.keyFile}"]]`,
        '[header]',
        '  x-registry-key = "s3cret"',
        '  cookie = "session=registry-only"',
        '',
      ].join('\n'),
    );
    // the registry asks for Basic credentials before it answers anything
    const guarded = (h: (req: IncomingMessage, res: ServerResponse) => void) => (req: IncomingMessage, res: ServerResponse) => {
      if (!req.headers.authorization) return void res.writeHead(401, { 'www-authenticate': 'Basic realm="registry"' }).end();
      h(req, res);
    };
    registry.route(
      'GET',
      blobPath,
      guarded((_q, res) => void res.writeHead(307, { location: `${storage.origin}/bucket/blob` }).end()),
    );
    registry.route(
      'GET',
      `/v2/same/blobs/${desc.digest}`,
      guarded((_q, res) => void res.writeHead(307, { location: '/internal/blob' }).end()),
    );
    registry.route(
      'GET',
      '/internal/blob',
      guarded((_q, res) => void res.writeHead(200, { 'content-length': blob.length }).end(blob)),
    );
    storage.route('GET', '/bucket/blob', (_q, res) => void res.writeHead(200, { 'content-length': blob.length }).end(blob));
  }, 60_000);
  afterEach(() => {
    client?.close();
    for (const r of [registry, storage, realm]) r.seen.length = 0;
  });
  afterAll(async () => {
    await Promise.all([registry, storage, realm].map((r) => r?.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  const fresh = () => (client = new RegistryClient({ hostsDir: join(dir, 'certs.d'), credentials: userPass('alice:pw') }));
  const read = async (body: NodeJS.ReadableStream) => {
    const parts: Buffer[] = [];
    for await (const c of body) parts.push(c as Buffer);
    return Buffer.concat(parts);
  };
  const credentialsIn = (s: Seen) => ({
    authorization: s.headers.authorization,
    key: s.headers['x-registry-key'],
    cookie: s.headers.cookie,
    clientCert: s.clientCert,
  });
  const registryCredentials = {
    authorization: `Basic ${Buffer.from('alice:pw').toString('base64')}`,
    key: 's3cret',
    cookie: 'session=registry-only',
    clientCert: 'berth test client',
  };
  const none = { authorization: undefined, key: undefined, cookie: undefined, clientCert: undefined };

  it('a blob GET redirected to a storage server on another port reaches it with no Authorization, configured header, cookie or client certificate', async () => {
    const got = await fresh().fetchBlob(ref, desc);
    expect(sha(await read(got.body))).toBe(desc.digest);
    expect(credentialsIn(registry.seen.at(-1)!)).toEqual(registryCredentials);
    expect(storage.seen.map((s) => `${s.method} ${s.path}`)).toEqual(['GET /bucket/blob']);
    expect(credentialsIn(storage.seen[0]!)).toEqual(none);
    expect(storage.seen[0]!.headers.accept).toMatch(/application\/vnd\.oci\.image\.layer\.v1\.tar\+gzip/);
  });

  it('a redirect within the registry keeps them', async () => {
    const got = await fresh().fetchBlob(`${new URL(registry.origin).host}/same`, desc);
    expect(sha(await read(got.body))).toBe(desc.digest);
    const internal = registry.seen.filter((s) => s.path === '/internal/blob');
    expect(internal).toHaveLength(1);
    expect(credentialsIn(internal[0]!)).toEqual(registryCredentials);
  });

  it('an upload location on another origin gets the blob and none of the credentials', async () => {
    registry.route(
      'HEAD',
      `/v2/app/blobs/${desc.digest}`,
      (q, res) => void res.writeHead(q.headers.authorization ? 404 : 401, { 'www-authenticate': 'Basic realm="registry"' }).end(),
    );
    registry.route(
      'POST',
      '/v2/app/blobs/uploads/',
      (_q, res) => void res.writeHead(202, { location: `${storage.origin}/uploads/1`, 'content-length': 0 }).end(),
    );
    storage.route('PUT', '/uploads/1', (q, res) => {
      q.resume();
      q.on('end', () => res.writeHead(201, { 'docker-content-digest': desc.digest, 'content-length': 0 }).end());
    });
    expect(await fresh().pushBlob(ref, desc, (start, end) => blob.subarray(start, end))).toBe('uploaded');
    expect(credentialsIn(registry.seen.find((s) => s.method === 'POST')!)).toEqual(registryCredentials);
    expect(storage.seen.map((s) => `${s.method} ${s.path}`)).toEqual(['PUT /uploads/1']);
    expect(credentialsIn(storage.seen[0]!)).toEqual(none);
  });

  it('an https registry whose token realm is plain http: the pull fails clearly and the realm never sees the credentials', async () => {
    const challenge = (_q: IncomingMessage, res: ServerResponse) =>
      void res.writeHead(401, { 'www-authenticate': `Bearer realm="${realm.origin}/token",service="registry"` }).end();
    registry.route('HEAD', '/v2/bearer/manifests/latest', challenge);
    registry.route('GET', '/v2/bearer/manifests/latest', challenge);
    realm.route('GET', '/token', (_q, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"t"}'));
    const err = await failure(fresh().resolve(`${new URL(registry.origin).host}/bearer:latest`));
    expect(err.code).toBe('Unauthenticated');
    expect(err.message).toMatch(`refusing to send the credentials of alice to the token realm ${realm.origin} over plain HTTP (the registry itself is https)`);
    expect(realm.seen).toEqual([]);
  });
});
