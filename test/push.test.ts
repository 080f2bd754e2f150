import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OciDescriptor } from '../core/oci/descriptor.ts';
import { userPass } from '../core/registry/auth.ts';
import { RegistryClient } from '../core/registry/client.ts';
import { mountCandidate, pushImage } from '../core/registry/push.ts';
import { parseReference } from '../core/registry/reference.ts';
import { ContentStore } from '../daemon/content/store.ts';
import { Exchange } from '../daemon/events/exchange.ts';
import { MetadataDB } from '../daemon/metadata/db.ts';
import { contentStoreSource } from '../daemon/push/store-source.ts';
import type { BerthClient } from '../transport/client.ts';
import { writeBlob } from '../transport/clients/content.ts';
import { type Berthd, berthBin, startBerthd } from './support/harness.ts';
import { wireDescriptor } from './support/image-fixture.ts';
import { buildTestImage, type TestImage } from './support/registry/images.ts';
import { startRegistry, type TestRegistry } from './support/registry/registry.ts';
import { startTogether } from './support/util.ts';

const run = promisify(execFile);
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const namespace = 'push';

/**
 * Puts an image's blobs (all, or all but `skip`) and its record into berthd. The blobs are gc
 * roots: nothing here sets the gc.ref labels a pull would, and the collector runs after any delete.
 */
async function load(c: BerthClient, name: string, img: TestImage, opts: { skip?: string; labels?: Record<string, Record<string, string>> } = {}) {
  for (const [digest, bytes] of img.blobs) {
    if (digest === opts.skip) continue;
    await writeBlob(c, bytes, { ref: `load-${digest}`, expected: digest, total: bytes.length, labels: { 'containerd.io/gc.root': 'push-test' } });
    const labels = opts.labels?.[digest];
    // as a pull does it: the blob may be there already (from another image)
    if (labels) await c.content.Update({ info: { digest, labels }, update_mask: { paths: Object.keys(labels).map((k) => `labels.${k}`) } });
  }
  await c.images.Create({ image: { name, target: wireDescriptor(img.root) } });
}

/** Every manifest and blob under a tag in the registry, compared with the image's own bytes. */
async function verifyInRegistry(client: RegistryClient, ref: string, img: TestImage, root: OciDescriptor = img.root): Promise<number> {
  const resolved = await client.resolve(ref);
  expect(resolved.descriptor).toMatchObject({ digest: root.digest, size: root.size, mediaType: root.mediaType });
  let checked = 0;
  const walk = async (desc: OciDescriptor) => {
    const bytes = await client.fetchManifest(resolved.reference, desc);
    expect(bytes.equals(img.blobs.get(desc.digest)!)).toBe(true);
    checked++;
    const doc = JSON.parse(bytes.toString()) as { manifests?: OciDescriptor[]; config?: OciDescriptor; layers?: OciDescriptor[] };
    for (const m of doc.manifests ?? []) await walk(m);
    for (const b of [...(doc.config ? [doc.config] : []), ...(doc.layers ?? [])]) {
      const blob = await client.fetchBlob(resolved.reference, b);
      const parts: Buffer[] = [];
      for await (const p of blob.body) parts.push(p as Buffer);
      expect(sha(Buffer.concat(parts))).toBe(b.digest);
      checked++;
    }
  };
  await walk(resolved.descriptor);
  return checked;
}

/** The blob lines of a push's output: key → last state. */
const states = (stdout: string) =>
  Object.fromEntries([...stdout.matchAll(/^((?:layer|config|manifest|index)-sha256:[0-9a-f]{64}) (.*)$/gm)].map((m) => [m[1], m[2]]));

describe('berth images push', () => {
  let berthd: Berthd;
  let registry: TestRegistry;
  let c: BerthClient;
  const img = buildTestImage({ kind: 'index', label: 'push' });
  const reg = new RegistryClient();
  const push = (...args: string[]) => berthd.berth(['-n', namespace, 'images', 'push', ...args]);

  beforeAll(async () => {
    [berthd, registry] = await startTogether([startBerthd(), startRegistry()]);
    c = berthd.client(namespace);
    await load(c, 'example.com/push/app:1', img);
  }, 60_000);
  afterAll(async () => {
    reg.close();
    await Promise.all([berthd?.cleanup(), registry?.stop()]);
  });

  it('uploads every blob children-first, then the manifests and the tagged index', async () => {
    const r = push('--plain-http', `${registry.host}/push/app:1`, 'example.com/push/app:1');
    expect(r.code, r.stderr).toBe(0);
    // layers, configs, the two manifests and the index: each reported, each done
    const seen = states(r.stdout);
    expect(Object.keys(seen)).toHaveLength(img.blobs.size);
    expect(Object.values(seen).every((s) => s === 'done')).toBe(true);
    const lines = r.stdout.split('\n');
    const doneAt = (key: string) => lines.indexOf(`${key} done`);
    expect(doneAt(`index-${img.root.digest}`)).toBe(lines.length - 3);
    for (const l of img.layers) expect(doneAt(`layer-${l.digest}`)).toBeLessThan(doneAt(`manifest-${img.manifests[0]!.digest}`));
    expect(r.stdout).toMatch(
      new RegExp(`^pushed ${registry.host}/push/app:1 ${img.root.digest}: 5 blobs uploaded, 0 already there, 0 mounted; 3 manifests, in [\\d.]+s$`, 'm'),
    );
    expect(await verifyInRegistry(reg, `${registry.host}/push/app:1`, img)).toBe(img.blobs.size);
  });

  it('a second push finds every blob there and uploads none', () => {
    const r = push(`${registry.host}/push/app:1`, 'example.com/push/app:1');
    expect(r.code, r.stderr).toBe(0);
    for (const [key, state] of Object.entries(states(r.stdout))) expect(state, key).toBe(/^(index|manifest)-/.test(key) ? 'done' : 'exists');
    expect(r.stdout).toMatch(/: 0 blobs uploaded, 5 already there, 0 mounted; 3 manifests/);
  });

  it('mounts blobs from the repository their distribution.source label names on the same registry', async () => {
    const other = buildTestImage({ kind: 'single', label: 'mount' });
    const host = registry.host.replace(/:\d+$/, '');
    const labels = Object.fromEntries(other.layers.map((l) => [l.digest, { [`containerd.io/distribution.source.${host}`]: 'push/app' }]));
    await load(c, 'example.com/push/mount:1', other, { labels });
    const r = push(`${registry.host}/push/mounted:1`, 'example.com/push/mount:1');
    expect(r.code, r.stderr).toBe(0);
    // the busybox layer is the same bytes as in push/app: mounted from there
    expect(states(r.stdout)[`layer-${other.layers[0]!.digest}`]).toBe('mounted from push/app');
    expect(states(r.stdout)[`config-${other.manifests[0]!.digest}`]).toBeUndefined();
    await verifyInRegistry(reg, `${registry.host}/push/mounted:1`, other);
  });

  it('--platform pushes that manifest of the index under the tag', async () => {
    const r = push('--platform', 'linux/amd64', `${registry.host}/push/amd64:1`, 'example.com/push/app:1');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/^index-/m);
    const { platform: _p, ...manifest } = img.manifests[0]!;
    await verifyInRegistry(reg, `${registry.host}/push/amd64:1`, img, manifest);
  });

  it('a layer missing from the content store fails before anything is uploaded, naming it', async () => {
    const partial = buildTestImage({ kind: 'multi', label: 'partial' });
    const gone = partial.layers[1]!;
    // a namespace of its own: the layers are the same bytes as the other images'
    await load(berthd.client('partial'), 'example.com/push/partial:1', partial, { skip: gone.digest });
    const r = berthd.berth(['-n', 'partial', 'images', 'push', `${registry.host}/push/partial:1`, 'example.com/push/partial:1']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(
      `berth: cannot push: layer ${gone.digest} (${gone.mediaType}, ${gone.size} bytes) named by manifest ${partial.root.digest} is not in the local content store`,
    );
    expect(r.stdout).toBe('');
    expect(await reg.hasBlob(`${registry.host}/push/partial`, partial.layers[0]!.digest)).toBe(false);
  });

  it('an index pulled for one platform only: the missing manifest is named, --platform pushes', async () => {
    const arm = img.manifests[1]!;
    await load(berthd.client('onlyamd64'), 'example.com/push/app:1', img, { skip: arm.digest });
    const args = ['-n', 'onlyamd64', 'images', 'push'];
    const r = berthd.berth([...args, `${registry.host}/push/onlyamd64:1`, 'example.com/push/app:1']);
    expect([r.code, r.stderr]).toEqual([
      1,
      `berth: cannot push: manifest ${arm.digest} (${arm.mediaType}, ${arm.size} bytes) named by index ${img.root.digest} is not in the local content store (push one platform with --platform, or pull them all first)\n`,
    ]);
    const ok = berthd.berth([...args, '--platform', 'linux/amd64', `${registry.host}/push/onlyamd64:1`, 'example.com/push/app:1']);
    expect(ok.code, ok.stderr).toBe(0);
    expect((await reg.resolve(`${registry.host}/push/onlyamd64:1`)).descriptor.digest).toBe(img.manifests[0]!.digest);
  });

  it('unknown images and unreachable registries are one-line errors', () => {
    const unknown = push(`${registry.host}/push/x:1`, 'example.com/nope:1');
    expect([unknown.code, unknown.stderr]).toEqual([1, 'berth: image "example.com/nope:1": not found\n']);
    const closed = push('127.0.0.1:1/push/app:1', 'example.com/push/app:1');
    expect(closed.code).toBe(1);
    expect(closed.stderr).toMatch(/^berth: registry 127\.0\.0\.1:1 unreachable: .*ECONNREFUSED.*\n$/);
  });
});

describe('berth images push with auth and TLS', () => {
  let berthd: Berthd;
  const img = buildTestImage({ kind: 'single', label: 'auth' });

  beforeAll(async () => {
    berthd = await startBerthd();
    await load(berthd.client(namespace), 'example.com/auth/app:1', img);
  });
  afterAll(() => berthd?.cleanup());

  // not spawnSync: the token server runs in this process and must answer while berth waits
  const push = async (...args: string[]) => {
    const r = await run(berthBin, ['--address', berthd.address, '-n', namespace, 'images', 'push', ...args]).catch(
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
    return { code: 'code' in r && typeof r.code === 'number' ? r.code : 0, stdout: r.stdout, stderr: r.stderr };
  };

  it('token auth: refused without credentials, pushed with --user', async () => {
    const registry = await startRegistry({ token: { users: { alice: 'wonderland' } } });
    try {
      const ref = `${registry.host}/auth/app:1`;
      const anonymous = await push(ref, 'example.com/auth/app:1');
      expect(anonymous.code).toBe(1);
      expect(anonymous.stderr).toMatch(/^berth: .*(authentication required|unauthorized).*\n$/);
      const r = await push('--user', 'alice:wonderland', ref, 'example.com/auth/app:1');
      expect(r.code, r.stderr).toBe(0);
      const reg = new RegistryClient({ credentials: userPass('alice:wonderland') });
      try {
        await verifyInRegistry(reg, ref, img);
      } finally {
        reg.close();
      }
    } finally {
      await registry.stop();
    }
  });

  it('TLS: an unknown CA is a TLS failure; --tls-ca and --skip-verify push', async () => {
    const registry = await startRegistry({ tls: true });
    try {
      const ref = `${registry.host}/tls/app:1`;
      const bad = await push('--tls-ca', '/etc/ssl/certs/ca-certificates.crt', ref, 'example.com/auth/app:1');
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/^berth: .*TLS failure: .*--tls-ca.*\n$/);
      const caFile = registry.ca!.caFile;
      expect((await push('--tls-ca', caFile, ref, 'example.com/auth/app:1')).code).toBe(0);
      expect((await push('--skip-verify', `${registry.host}/tls/other:1`, 'example.com/auth/app:1')).code).toBe(0);
      const reg = new RegistryClient({ hosts: { ca: registry.ca!.caPem } });
      try {
        await verifyInRegistry(reg, ref, img);
      } finally {
        reg.close();
      }
    } finally {
      await registry.stop();
    }
  });
});

describe('pushImage in the daemon process (over the ContentStore)', () => {
  it('pushes from the store directly, with the same checks', async () => {
    const dir = mkdtempSync('/tmp/berth-push-unit-');
    const db = await MetadataDB.open(join(dir, 'metadata'));
    const registry = await startRegistry();
    const reg = new RegistryClient();
    try {
      const store = new ContentStore(join(dir, 'content'), db, new Exchange(), () => undefined);
      await store.init();
      const img = buildTestImage({ kind: 'multi', label: 'store' });
      for (const [digest, bytes] of img.blobs) {
        const w = await store.writer('ns', { ref: digest, total: bytes.length, expected: digest });
        await w.write(bytes);
        await w.commit(bytes.length, digest, {});
      }
      const ref = parseReference(`${registry.host}/store/app:1`);
      const events: string[] = [];
      const result = await pushImage(reg, contentStoreSource(store, 'ns'), ref, img.root, {
        chunkSize: 64 << 10,
        onProgress: (p) => events.push(`${p.key} ${p.state}`),
      });
      expect(Object.values(result.blobs)).toEqual(['uploaded', 'uploaded', 'uploaded']);
      expect(result.manifests).toEqual([img.root.digest]);
      expect(events.at(-1)).toBe(`manifest-${img.root.digest} done`);
      await verifyInRegistry(reg, `${registry.host}/store/app:1`, img);
    } finally {
      reg.close();
      await registry.stop();
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('picks the mount source as containerd does: same registry host without the port, longest common path, never the target', () => {
    const ref = parseReference('127.0.0.1:5000/team/app/web:1');
    const label = (v: string) => ({ 'containerd.io/distribution.source.127.0.0.1': v });
    expect(mountCandidate(ref, {})).toBeUndefined();
    expect(mountCandidate(ref, label('team/app/web'))).toBeUndefined();
    expect(mountCandidate(ref, label('other/x,team/app/api,team/db'))).toBe('team/app/api');
    expect(mountCandidate(ref, { 'containerd.io/distribution.source.example.com': 'team/app/api' })).toBeUndefined();
  });
});
