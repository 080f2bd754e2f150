import { execFile, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type RequestListener, request, type Server } from 'node:http';
import { createServer as createHttpsServer, type ServerOptions } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseGoDuration as parseDuration } from '../core/duration.ts';
import { RegistryClient } from '../core/registry/client.ts';
import { hostDirectory, registryHosts } from '../core/registry/hosts.ts';
import { parseReference } from '../core/registry/reference.ts';
import { type Berthd, berthBin, startBerthd } from './support/harness.ts';
import { makeServerCert } from './support/registry/certs.ts';
import { buildTestImage, pushImage, type TestImage } from './support/registry/images.ts';
import { startRegistry, type TestRegistry } from './support/registry/registry.ts';
import { failure, startTogether } from './support/util.ts';

const pemA = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';
const pemB = '-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n';

/** Writes `<root>/<dir>/hosts.toml` (creating the directory). */
function hostsToml(root: string, dir: string, text: string): string {
  mkdirSync(join(root, dir), { recursive: true });
  const file = join(root, dir, 'hosts.toml');
  writeFileSync(file, text);
  return file;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** berth without blocking this process's event loop (the proxy below lives in it) */
function berthAsync(daemon: Berthd, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawn(berthBin, ['--address', daemon.address, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b) => (stdout += b));
  child.stderr.on('data', (b) => (stderr += b));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr })));
}

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

/**
 * A registry whose API is not at /v2 (what override_path is for): requests under `prefix` go to
 * a real docker-registry's /v2, anything else is 404. Every request is recorded. With `tls`, an
 * HTTPS front (e.g. one asking for client certificates).
 */
async function startPrefixProxy(target: TestRegistry, prefix: string, tls?: ServerOptions): Promise<{ host: string; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const handler: RequestListener = (req, res) => {
    seen.push({ method: req.method!, url: req.url!, headers: req.headers });
    if (!req.url!.startsWith(`${prefix}/`)) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"NOT_FOUND","message":"not under the prefix"}]}');
      return;
    }
    const upstream = request(
      `${target.url}/v2${req.url!.slice(prefix.length)}`,
      { method: req.method, headers: { ...req.headers, host: target.host } },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  };
  const server: Server = tls ? createHttpsServer(tls, handler) : createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    host,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe('hosts.toml (units)', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'berth-hosts-'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("finds a domain's directory as containerd does: host_port_, host:port, then _default", () => {
    expect(hostDirectory(root, 'reg.example:5000')).toBeUndefined();
    mkdirSync(join(root, '_default'));
    expect(hostDirectory(root, 'reg.example:5000')).toBe(join(root, '_default'));
    mkdirSync(join(root, 'reg.example:5000'));
    expect(hostDirectory(root, 'reg.example:5000')).toBe(join(root, 'reg.example:5000'));
    mkdirSync(join(root, 'reg.example_5000_'));
    expect(hostDirectory(root, 'reg.example:5000')).toBe(join(root, 'reg.example_5000_'));
    // no fallback from host:port to the bare host
    mkdirSync(join(root, 'other.example'));
    expect(hostDirectory(root, 'other.example:443')).toBe(join(root, '_default'));
    expect(hostDirectory(root, 'other.example')).toBe(join(root, 'other.example'));
    for (const d of ['_default', 'reg.example:5000', 'reg.example_5000_', 'other.example']) rmSync(join(root, d), { recursive: true });
  });

  it('mirrors in file order then the server; capabilities, API paths, CAs (relative to the file), headers', () => {
    writeFileSync(join(root, 'a.pem'), pemA);
    writeFileSync(join(root, 'b.pem'), pemB);
    hostsToml(
      root,
      'reg.example',
      [
        'server = "https://upstream.example:8443/base"',
        'skip_verify = true',
        '[host."http://mirror-b.example:5000"]',
        '  capabilities = ["pull"]',
        '  [host."http://mirror-b.example:5000".header]',
        '    x-one = "1"',
        '    x-many = ["a", "b"]',
        '[host."mirror-a.example/v2/upstream"]',
        '  capabilities = ["pull", "resolve"]',
        '  override_path = true',
        `  ca = ["../a.pem", "${join(root, 'b.pem')}"]`,
        '[host."https://mirror-c.example/prefix/"]',
        '',
      ].join('\n'),
    );
    const hosts = registryHosts('reg.example', {}, root);
    expect(hosts.map((h) => [h.scheme, h.host, h.path, [...h.capabilities].sort().join(','), h.mirror])).toEqual([
      ['http', 'mirror-b.example:5000', '/v2', 'pull', true],
      ['https', 'mirror-a.example', '/v2/upstream', 'pull,resolve', true],
      ['https', 'mirror-c.example', '/prefix/v2', 'pull,push,resolve', true],
      ['https', 'upstream.example:8443', '/base/v2', 'pull,push,resolve', false],
    ]);
    expect(hosts[0]!.header).toEqual({ 'x-one': ['1'], 'x-many': ['a', 'b'] });
    expect(hosts[1]!.tls.ca).toBe(`${pemA}\n${pemB}`);
    expect(hosts[1]!.tls.skipVerify).toBeUndefined();
    // top-level settings are the server's
    expect(hosts[3]!.tls.skipVerify).toBe(true);
    // a domain without a directory: its registry only, shaped by the request's options
    expect(registryHosts('none.example', { skipVerify: true }, root)).toMatchObject([
      { scheme: 'https', host: 'none.example', path: '/v2', mirror: false, tls: { skipVerify: true } },
    ]);
    expect(registryHosts('docker.io', {}, root)).toMatchObject([{ scheme: 'https', host: 'registry-1.docker.io', path: '/v2' }]);
    expect(registryHosts('127.0.0.1:5000', {}, undefined)).toMatchObject([{ scheme: 'http', host: '127.0.0.1:5000' }]);
    rmSync(join(root, 'reg.example'), { recursive: true });
  });

  it("no server: the domain's registry with the file's top-level settings; a loopback registry with a CA is HTTPS", () => {
    writeFileSync(join(root, 'a.pem'), pemA);
    hostsToml(root, '127.0.0.1_5000_', 'ca = "../a.pem"\ncapabilities = ["pull", "resolve"]\n[host."http://127.0.0.1:6000"]\n');
    const hosts = registryHosts('127.0.0.1:5000', {}, root);
    expect(hosts.map((h) => `${h.scheme}://${h.host}${h.path}`)).toEqual(['http://127.0.0.1:6000/v2', 'https://127.0.0.1:5000/v2']);
    expect([...hosts[1]!.capabilities].sort()).toEqual(['pull', 'resolve']);
    expect(hosts[1]!.tls.ca).toBe(pemA);
    rmSync(join(root, '127.0.0.1_5000_'), { recursive: true });
  });

  it('dial_timeout as Go writes durations, per host or for the server', () => {
    expect([parseDuration('1s'), parseDuration('300ms'), parseDuration('1m30s'), parseDuration('1.5s'), parseDuration('0')]).toEqual([
      1000, 300, 90_000, 1500, 0,
    ]);
    expect([parseDuration(''), parseDuration('5'), parseDuration('1x'), parseDuration('s')]).toEqual([undefined, undefined, undefined, undefined]);
    hostsToml(root, 'dial.example', 'dial_timeout = "2s"\n[host."http://m.example"]\n  dial_timeout = "250ms"\n');
    expect(registryHosts('dial.example', {}, root).map((h) => h.tls.dialTimeoutMs)).toEqual([250, 2000]);
    const file = hostsToml(root, 'dial.example', 'dial_timeout = 5\n');
    expect(() => registryHosts('dial.example', {}, root)).toThrow(`registry hosts config ${file}: dial_timeout must be a duration`);
    rmSync(join(root, 'dial.example'), { recursive: true });
  });

  it("a host directory without hosts.toml: Docker's *.crt files are the registry's CAs", () => {
    mkdirSync(join(root, 'certs.example'));
    writeFileSync(join(root, 'certs.example', 'ca.crt'), pemA);
    expect(registryHosts('certs.example', {}, root)).toMatchObject([{ scheme: 'https', host: 'certs.example', tls: { ca: pemA } }]);
    rmSync(join(root, 'certs.example'), { recursive: true });
  });

  it('an invalid or unreadable hosts.toml is an error naming the file (and the entry)', () => {
    const cases: Array<[string, RegExp]> = [
      ['server = "https://x\n', /hosts\.toml: .*/],
      ['[host."http://m"]\ncapabilities = ["pull", "fetch"]\n', /host "http:\/\/m": unknown capability "fetch"/],
      ['[host."http://m"]\nca = "missing.pem"\n', /host "http:\/\/m": cannot read CA file .*missing\.pem: ENOENT/],
      ['ca = 5\n', /ca must be a path or a list of paths/],
      ['skip_verify = "yes"\n', /skip_verify must be true or false/],
      ['proxy = "http://p:8080"\n', /proxy is not supported/],
      ['[host."http://m"]\n[host."http://m".header]\nx-a = 1\n', /header "x-a" must be a string/],
      ['server = "https://u?x=1"\n', /server: "https:\/\/u\?x=1" must be scheme:\/\/host/],
      ['[host."ftp://m"]\n', /host "ftp:\/\/m": "ftp:\/\/m" must be an http or https URL/],
      // read to the end, a device would fill memory (a FIFO would block the daemon)
      ['[host."http://m"]\nca = "/dev/zero"\n', /host "http:\/\/m": cannot read CA file \/dev\/zero: not a regular file/],
    ];
    for (const [text, re] of cases) {
      const file = hostsToml(root, 'bad.example', text);
      let err: Error | undefined;
      try {
        registryHosts('bad.example', {}, root);
      } catch (e) {
        err = e as Error;
      }
      expect(err?.message, text).toContain(`registry hosts config ${file}: `);
      expect(err?.message, text).toMatch(re);
      expect(err?.message.includes('\n'), text).toBe(false);
    }
    rmSync(join(root, 'bad.example'), { recursive: true });
    mkdirSync(join(root, 'bad.example', 'hosts.toml'), { recursive: true });
    expect(() => registryHosts('bad.example', {}, root)).toThrow(`registry hosts config ${join(root, 'bad.example', 'hosts.toml')}: EISDIR`);
    rmSync(join(root, 'bad.example'), { recursive: true });
  });
});

describe('registry mirrors, override_path and CAs from hosts.toml (docker-registry, berthd pull)', () => {
  let upstream: TestRegistry;
  let mirror: TestRegistry;
  let tlsReg: TestRegistry;
  let proxy: Awaited<ReturnType<typeof startPrefixProxy>>;
  let daemon: Berthd;
  let dir: string;
  let hostsDir: string;
  const onMirror = buildTestImage({ kind: 'single', label: 'hosts-mirror' });
  const onUpstream = buildTestImage({ kind: 'single', label: 'hosts-upstream' });
  const onTls = buildTestImage({ kind: 'single', label: 'hosts-tls' });
  const viaProxy = buildTestImage({ kind: 'single', label: 'hosts-override' });

  const push = async (client: RegistryClient, ref: string, img: TestImage) => {
    try {
      await pushImage(client, parseReference(ref), img);
    } finally {
      client.close();
    }
  };
  const pull = (ref: string, ...flags: string[]) => daemon.berth(['images', 'pull', '--no-unpack', ...flags, ref]);
  const imageTarget = (name: string) => {
    const r = daemon.berth(['images', 'ls', '--format', 'json']);
    return (JSON.parse(r.stdout) as Array<{ name: string; target: { digest: string } }>).find((i) => i.name === name)?.target.digest;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-hosts-it-'));
    hostsDir = join(dir, 'certs.d');
    mkdirSync(hostsDir);
    writeFileSync(join(dir, 'config.toml'), `version = 2\n[plugins."io.containerd.grpc.v1.pull"]\n  config_path = "${hostsDir}"\n`);
    [upstream, mirror, tlsReg] = await startTogether([startRegistry(), startRegistry(), startRegistry({ tls: true })]);
    proxy = await startPrefixProxy(mirror, '/api/mirror');
    await push(new RegistryClient(), `${mirror.host}/hosts/app:v1`, onMirror);
    await push(new RegistryClient(), `${mirror.host}/hosts/override:v1`, viaProxy);
    await push(new RegistryClient(), `${upstream.host}/hosts/only-upstream:v1`, onUpstream);
    await push(new RegistryClient({ hosts: { ca: tlsReg.ca!.caPem } }), `${tlsReg.host}/hosts/tls:v1`, onTls);
    daemon = await startBerthd(['--config', join(dir, 'config.toml')]);
  }, 60_000);
  afterEach(() => {
    rmSync(hostsDir, { recursive: true, force: true });
    mkdirSync(hostsDir);
  });
  afterAll(async () => {
    await daemon?.cleanup();
    await proxy?.close();
    await Promise.all([upstream?.stop(), mirror?.stop(), tlsReg?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('pulls through a mirror configured for the registry (the registry itself lacks the image)', () => {
    const ref = `${upstream.host}/hosts/app:v1`;
    const before = pull(ref);
    expect(before.code).toBe(1);
    expect(before.stderr).toMatch(/not found/);

    hostsToml(hostsDir, upstream.host, `server = "${upstream.url}"\n[host."${mirror.url}"]\n  capabilities = ["pull", "resolve"]\n`);
    const r = pull(ref);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // the image is named as asked, its content what the mirror holds
    expect(imageTarget(ref)).toBe(onMirror.root.digest);
  });

  it('falls back past a mirror that is down and one that lacks the image, to the registry', async () => {
    // a mirror holding the image, then down
    const stopped = await startRegistry();
    await push(new RegistryClient(), `${stopped.host}/hosts/only-upstream:v1`, onMirror);
    await stopped.stop();
    const ref = `${upstream.host}/hosts/only-upstream:v1`;
    hostsToml(
      hostsDir,
      `${upstream.host.replace(':', '_')}_`,
      [`[host."${stopped.url}"]`, '  capabilities = ["pull", "resolve"]', `[host."${mirror.url}"]`, '  capabilities = ["pull", "resolve"]', ''].join('\n'),
    );
    const r = pull(ref);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(imageTarget(ref)).toBe(onUpstream.root.digest);
  });

  it("a mirror down with the registry lacking the image: the registry's answer, with the mirror's failure noted", async () => {
    const dead = await freePort();
    hostsToml(hostsDir, upstream.host, `[host."http://127.0.0.1:${dead}"]\n`);
    const r = pull(`${upstream.host}/hosts/nothing:v1`);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/not found/);
    expect(r.stderr).toContain(`http://127.0.0.1:${dead}/v2: registry 127.0.0.1:${dead} unreachable`);
  });

  it("override_path: the host URL's path is the API root (no /v2 added); headers and ns go to the mirror", async () => {
    const ref = `${upstream.host}/hosts/override:v1`;
    // without override_path the API root is /api/mirror/v2, which this mirror does not serve
    hostsToml(hostsDir, upstream.host, `[host."http://${proxy.host}/api/mirror"]\n  capabilities = ["pull", "resolve"]\n`);
    expect((await berthAsync(daemon, ['images', 'pull', '--no-unpack', ref])).code).toBe(1);
    expect(proxy.seen.some((s) => s.url.startsWith('/api/mirror/v2/hosts/override/manifests/v1'))).toBe(true);

    proxy.seen.length = 0;
    hostsToml(
      hostsDir,
      upstream.host,
      [
        `[host."http://${proxy.host}/api/mirror"]`,
        '  capabilities = ["pull", "resolve"]',
        '  override_path = true',
        `  [host."http://${proxy.host}/api/mirror".header]`,
        '    x-berth-mirror = ["a", "b"]',
        '',
      ].join('\n'),
    );
    const r = await berthAsync(daemon, ['images', 'pull', '--no-unpack', ref]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(imageTarget(ref)).toBe(viaProxy.root.digest);
    const manifest = proxy.seen.find((s) => s.url.startsWith('/api/mirror/hosts/override/manifests/v1'));
    expect(manifest).toBeDefined();
    expect(new URL(manifest!.url, 'http://x').searchParams.get('ns')).toBe(upstream.host);
    expect(manifest!.headers['x-berth-mirror']).toBe('a, b');
    // (its layer is every test image's busybox layer, here already; the config is its own)
    const config = (JSON.parse(viaProxy.blobs.get(viaProxy.root.digest)!.toString()) as { config: { digest: string } }).config.digest;
    expect(proxy.seen.some((s) => s.url.startsWith(`/api/mirror/hosts/override/blobs/${config}`))).toBe(true);
  });

  it('a TLS registry is trusted with the ca of its hosts.toml (no --tls-ca)', () => {
    const ref = `${tlsReg.host}/hosts/tls:v1`;
    // no config: loopback is plain HTTP by default, which a TLS registry does not speak
    expect(pull(ref).code).toBe(1);
    hostsToml(hostsDir, tlsReg.host, `server = "${tlsReg.url}"\n`);
    const untrusted = pull(ref);
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toMatch(/TLS failure/);

    const file = hostsToml(hostsDir, tlsReg.host, `server = "${tlsReg.url}"\nca = "registry-ca.pem"\n`);
    copyFileSync(tlsReg.ca!.caFile, join(hostsDir, tlsReg.host, 'registry-ca.pem'));
    const r = pull(ref);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(imageTarget(ref)).toBe(onTls.root.digest);
    // with no server line, a CA makes the loopback registry HTTPS too
    writeFileSync(file, 'ca = "registry-ca.pem"\n');
    daemon.berth(['images', 'rm', ref]);
    const again = pull(ref);
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
  });

  it('a mirror asking for a client certificate gets the one its hosts.toml names (client = [[cert, key]])', async () => {
    const ref = `${upstream.host}/hosts/client-cert:v1`;
    const img = buildTestImage({ kind: 'single', label: 'hosts-client-cert' });
    await push(new RegistryClient(), `${mirror.host}/hosts/client-cert:v1`, img);
    const certs = join(dir, 'client-certs');
    mkdirSync(certs);
    const ca = await makeServerCert(certs);
    const openssl = (args: string[]) => promisify(execFile)('openssl', args, { cwd: certs });
    await openssl([
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      'client.key',
      '-out',
      'client.csr',
      '-subj',
      '/CN=berth test client',
    ]);
    writeFileSync(join(certs, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
    await openssl([
      'x509',
      '-req',
      '-in',
      'client.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'client.crt',
      '-days',
      '2',
      '-extfile',
      'client.ext',
    ]);
    const front = await startPrefixProxy(mirror, '/v2', {
      cert: readFileSync(ca.certFile),
      key: readFileSync(ca.keyFile),
      ca: ca.caPem,
      requestCert: true,
      rejectUnauthorized: true,
    });
    try {
      const entry = [`[host."https://${front.host}"]`, '  capabilities = ["pull", "resolve"]', `  ca = "${ca.caFile}"`];
      hostsToml(hostsDir, upstream.host, `${entry.join('\n')}\n`);
      const refused = await berthAsync(daemon, ['images', 'pull', '--no-unpack', ref]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(`after trying https://${front.host}/v2: `);

      hostsToml(hostsDir, upstream.host, [...entry, `  client = [["${join(certs, 'client.crt')}", "${join(certs, 'client.key')}"]]`, ''].join('\n'));
      const r = await berthAsync(daemon, ['images', 'pull', '--no-unpack', ref]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(imageTarget(ref)).toBe(img.root.digest);
    } finally {
      await front.close();
    }
  });

  it('a broken hosts.toml fails the pull with an error naming the file', () => {
    const file = hostsToml(hostsDir, upstream.host, '[host."http://m"\ncapabilities = ["pull"]\n');
    const r = pull(`${upstream.host}/hosts/app:v1`);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`registry hosts config ${file}: `);
    expect(r.stderr).toMatch(/Invalid TOML document: .* \(line 1, column \d+\)/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('push and hosts.toml (berth images push --hosts-dir)', () => {
  let upstream: TestRegistry;
  let mirror: TestRegistry;
  let daemon: Berthd;
  let dir: string;
  const img = buildTestImage({ kind: 'single', label: 'hosts-push' });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-hosts-push-'));
    [upstream, mirror, daemon] = await startTogether([startRegistry(), startRegistry(), startBerthd()]);
    const client = new RegistryClient();
    try {
      await pushImage(client, parseReference(`${mirror.host}/src/app:v1`), img);
    } finally {
      client.close();
    }
    const r = daemon.berth(['images', 'pull', '--no-unpack', `${mirror.host}/src/app:v1`]);
    expect(r.code, r.stderr).toBe(0);
  }, 60_000);
  afterAll(async () => {
    await daemon?.cleanup();
    await Promise.all([upstream?.stop(), mirror?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  const has = async (reg: TestRegistry, ref: string) => {
    const client = new RegistryClient();
    try {
      return await client.resolve(`${reg.host}/${ref}`).then(
        (r) => r.descriptor.digest,
        () => undefined,
      );
    } finally {
      client.close();
    }
  };

  it('a pull-only mirror is never pushed to: the push goes to the registry', async () => {
    hostsToml(dir, upstream.host, `[host."${mirror.url}"]\n  capabilities = ["pull", "resolve"]\n`);
    const r = daemon.berth(['images', 'push', '--hosts-dir', dir, `${upstream.host}/dst/app:v1`, `${mirror.host}/src/app:v1`]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(await has(upstream, 'dst/app:v1')).toBe(img.root.digest);
    expect(await has(mirror, 'dst/app:v1')).toBeUndefined();
  });

  it('a mirror with the push capability is pushed to; no host with it is an error', async () => {
    hostsToml(dir, upstream.host, `[host."${mirror.url}"]\n  capabilities = ["pull", "resolve", "push"]\n`);
    const r = daemon.berth(['images', 'push', '--hosts-dir', dir, `${upstream.host}/dst/pushable:v1`, `${mirror.host}/src/app:v1`]);
    expect(r.code, r.stderr).toBe(0);
    expect(await has(mirror, 'dst/pushable:v1')).toBe(img.root.digest);
    expect(await has(upstream, 'dst/pushable:v1')).toBeUndefined();

    hostsToml(dir, upstream.host, `capabilities = ["pull", "resolve"]\n[host."${mirror.url}"]\n  capabilities = ["pull"]\n`);
    const none = daemon.berth(['images', 'push', '--hosts-dir', dir, `${upstream.host}/dst/none:v1`, `${mirror.host}/src/app:v1`]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no host of 127\.0\.0\.1:\d+ has the push capability/);
  });

  it('the client resolves through mirrors, trying the next on a 404', async () => {
    hostsToml(dir, upstream.host, `[host."${mirror.url}"]\n  capabilities = ["pull", "resolve"]\n`);
    const client = new RegistryClient({ hostsDir: dir });
    try {
      // on the mirror only
      expect((await client.resolve(`${upstream.host}/src/app:v1`)).descriptor.digest).toBe(img.root.digest);
      // on the registry only (pushed there by the first test)
      expect((await client.resolve(`${upstream.host}/dst/app:v1`)).descriptor.digest).toBe(img.root.digest);
      const e = await failure(client.resolve(`${upstream.host}/nowhere/app:v1`));
      expect(e.code).toBe('NotFound');
    } finally {
      client.close();
    }
  });
});
