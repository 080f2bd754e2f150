import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { Header } from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaType } from '../core/oci/descriptor.ts';
import { formatPlatform } from '../core/platform.ts';
import { tarEntries } from '../ctl/images/tar.ts';
import { BerthClient } from '../transport/client.ts';
import { writeBlob } from '../transport/clients/content.ts';
import { type Berthd, berthBin, type Containerd, startBerthd, startContainerd } from './support/harness.ts';
import { buildImage, type TestImage, wireDescriptor } from './support/image-fixture.ts';
import { paxBody, header as rawHeader } from './support/layers/tarbuild.ts';
import { have } from './support/root.ts';
import { sha, startTogether } from './support/util.ts';

/**
 * `berth images import|export` against berthd: a round trip onto a clean daemon keeps every
 * digest and name; archives from and for containerd's ctr work both ways; docker save archives
 * import; hostile archives fail with a clear error and leave nothing an image names.
 */

interface TarItem {
  name: string;
  data?: Buffer;
  type?: 'File' | 'Directory' | 'SymbolicLink' | 'Link';
  linkpath?: string;
  /** a size to claim in the header instead of data's */
  size?: number;
}

/** A tar archive built by hand, hostile entries included. */
function makeTar(items: TarItem[]): Buffer {
  const parts: Buffer[] = [];
  for (const it of items) {
    const data = it.data ?? Buffer.alloc(0);
    const h = Buffer.alloc(512);
    new Header({ path: it.name, mode: 0o644, size: it.size ?? data.length, type: it.type ?? 'File', linkpath: it.linkpath, mtime: new Date(0) }).encode(h);
    parts.push(h, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/**
 * The archive behind a global PAX header ('g') with these records. Go's archive/tar (docker load,
 * ctr import) applies a global header to no entry; a reader that applied `size=0` would read the
 * next entry's body as a header, and `path=` would give every entry one name.
 */
function withGlobalHeader(records: Record<string, string>, archive: Buffer): Buffer {
  const body = paxBody(records);
  return Buffer.concat([rawHeader({ name: 'pax_global_header', type: 'g' }, body.length), body, Buffer.alloc((512 - (body.length % 512)) % 512), archive]);
}

const globalRecords: Array<Record<string, string>> = [
  { size: '0' },
  { path: 'index.json' },
  { size: '0', path: 'oci-layout', linkpath: '/etc/passwd', uid: '7' },
];

async function untar(buf: Buffer): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for await (const e of tarEntries(Readable.from([buf]))) {
    const parts: Buffer[] = [];
    for await (const c of e.body) parts.push(c);
    files.set(e.name, Buffer.concat(parts));
  }
  return files;
}

/** Stores an image's blobs (with the labels a pull gives them) and names it. */
async function seed(c: BerthClient, img: TestImage, names: Record<string, TestImage['target']>) {
  // under a lease, as a pull would be: the collector may run before the image record exists
  const lease = (await c.leases.Create({ id: '' })).lease!;
  const leased = new BerthClient({ ...c.options, lease: lease.id });
  try {
    for (const b of img.blobs) await writeBlob(leased, b.bytes, { ref: `seed-${b.desc.digest}`, expected: b.desc.digest, labels: b.labels });
    for (const [name, target] of Object.entries(names)) await c.images.Create({ image: { name, target: wireDescriptor(target) } });
  } finally {
    leased.close();
    await c.leases.Delete({ id: lease.id });
  }
}

describe('images import and export', () => {
  let a: Berthd;
  let b: Berthd;
  let tmp: string;
  const img = buildImage('archive');
  const json = (v: unknown) => Buffer.from(JSON.stringify(v));

  beforeAll(async () => {
    [a, b] = await startTogether([startBerthd(), startBerthd()]);
    tmp = mkdtempSync('/tmp/berth-archive-');
    await seed(a.client(), img, { 'example.com/app:1': img.target, 'example.com/app:manifest': img.manifest.desc });
  });
  afterAll(async () => {
    await Promise.all([a?.cleanup(), b?.cleanup()]);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  const ok = (r: { code: number; stdout: string; stderr: string }) => {
    expect(r.code, r.stderr).toBe(0);
    return r;
  };
  const lsImages = (d: Berthd, ns = 'default') =>
    JSON.parse(ok(d.berth(['-n', ns, 'images', 'ls', '--format', 'json'])).stdout) as Array<{ name: string; target: { digest: string; mediaType: string } }>;
  const lsContent = (d: Berthd, ns = 'default') =>
    JSON.parse(ok(d.berth(['-n', ns, 'content', 'ls', '--format', 'json'])).stdout) as Array<{ digest: string; labels: Record<string, string> }>;
  const digests = (d: Berthd, ns = 'default') =>
    lsContent(d, ns)
      .map((x) => x.digest)
      .sort();
  /** runs the collector now (deleting a lease with --sync waits for a collection) */
  const collect = (d: Berthd, ns = 'default') => {
    const id = ok(d.berth(['-n', ns, 'leases', 'create'])).stdout.trim();
    ok(d.berth(['-n', ns, 'leases', 'rm', '--sync', id]));
  };
  /** the berth CLI with binary stdin/stdout */
  const raw = (d: Berthd, args: string[], input?: Buffer) => {
    const r = spawnSync(berthBin, ['--address', d.address, ...args], { input, maxBuffer: 1 << 28 });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.toString() };
  };
  const hostManifest = img.index.desc; // index naming the host's manifest and one for a platform not stored

  it('export writes an OCI layout with blobs for the host platform, index names and a Docker manifest.json', async () => {
    const file = join(tmp, 'app.tar');
    ok(a.berth(['images', 'export', file, 'example.com/app:1', 'example.com/app:manifest']));
    const files = await untar(readFileSync(file));
    expect([...files.keys()]).toEqual([
      'blobs/',
      'blobs/sha256/',
      ...img.blobs.map((x) => `blobs/${x.desc.digest.replace(':', '/')}`).sort(),
      'index.json',
      'manifest.json',
      'oci-layout',
    ]);
    for (const x of img.blobs) expect(sha(files.get(`blobs/${x.desc.digest.replace(':', '/')}`)!)).toBe(x.desc.digest);
    expect(JSON.parse(files.get('oci-layout')!.toString())).toEqual({ imageLayoutVersion: '1.0.0' });
    const index = JSON.parse(files.get('index.json')!.toString());
    expect(index.manifests).toEqual([
      {
        mediaType: MediaType.ociIndex,
        digest: hostManifest.digest,
        size: hostManifest.size,
        annotations: { 'io.containerd.image.name': 'example.com/app:1', 'org.opencontainers.image.ref.name': '1' },
      },
      {
        mediaType: MediaType.ociManifest,
        digest: img.manifest.desc.digest,
        size: img.manifest.desc.size,
        annotations: { 'io.containerd.image.name': 'example.com/app:manifest', 'org.opencontainers.image.ref.name': 'manifest' },
      },
    ]);
    const blob = (d: string) => `blobs/${d.replace(':', '/')}`;
    expect(JSON.parse(files.get('manifest.json')!.toString())).toEqual([
      { Config: blob(img.config.desc.digest), RepoTags: ['example.com/app:1', 'example.com/app:manifest'], Layers: [blob(img.layer.desc.digest)] },
    ]);
  });

  it('round trip: export then import into a clean berthd keeps every digest and name, and GC keeps them', () => {
    const file = join(tmp, 'roundtrip.tar');
    ok(a.berth(['images', 'export', file, 'example.com/app:1', 'example.com/app:manifest']));
    const r = ok(b.berth(['-n', 'rt', 'images', 'import', file]));
    expect(r.stdout.trim().split('\n').sort()).toEqual(['example.com/app:1', 'example.com/app:manifest']);
    const before = lsImages(a)
      .map((i) => [i.name, i.target.digest, i.target.mediaType])
      .sort();
    expect(
      lsImages(b, 'rt')
        .map((i) => [i.name, i.target.digest, i.target.mediaType])
        .sort(),
    ).toEqual(before);
    collect(b, 'rt');
    expect(digests(b, 'rt')).toEqual(img.blobs.map((x) => x.desc.digest).sort());
    const labels = Object.fromEntries(lsContent(b, 'rt').map((x) => [x.digest, x.labels]));
    expect(labels[img.index.desc.digest]).toMatchObject({ 'containerd.io/gc.ref.content.m.0': img.manifest.desc.digest });
    expect(labels[img.manifest.desc.digest]).toMatchObject({
      'containerd.io/gc.ref.content.config': img.config.desc.digest,
      'containerd.io/gc.ref.content.l.0': img.layer.desc.digest,
    });
    const check = JSON.parse(ok(b.berth(['-n', 'rt', 'images', 'check', '--format', 'json'])).stdout) as Array<{ complete: boolean; unpacked: boolean }>;
    expect(check.map((x) => x.complete)).toEqual([true, true]);
    // unpacked on import, as ctr does; --no-unpack only stores
    expect(check.map((x) => x.unpacked)).toEqual([true, true]);
    ok(b.berth(['-n', 'rt-stored', 'images', 'import', '--no-unpack', file]));
    const stored = JSON.parse(ok(b.berth(['-n', 'rt-stored', 'images', 'check', '--format', 'json'])).stdout) as Array<{
      complete: boolean;
      unpacked: boolean;
    }>;
    expect(stored.map((x) => [x.complete, x.unpacked])).toEqual([
      [true, false],
      [true, false],
    ]);
    // importing again updates the records in place
    ok(b.berth(['-n', 'rt', 'images', 'import', file]));
    expect(lsImages(b, 'rt')).toHaveLength(2);
  });

  it('export to stdout and import from stdin, with --base-name, --digests and --index-name', () => {
    const exp = raw(a, ['images', 'export', '-', 'example.com/app:1']);
    expect(exp.code, exp.stderr).toBe(0);
    const r = raw(
      b,
      ['-n', 'stdin', 'images', 'import', '--digests', '--base-name', 'example.com/app', '--index-name', 'whole-archive', '--format', 'json', '-'],
      exp.stdout,
    );
    expect(r.code, r.stderr).toBe(0);
    const made = JSON.parse(r.stdout.toString()) as Array<{ name: string; target: { digest: string } }>;
    expect(made.map((m) => m.name).sort()).toEqual(['example.com/app:1', `example.com/app@${img.index.desc.digest}`, 'whole-archive']);
    expect(made.find((m) => m.name === 'example.com/app:1')!.target.digest).toBe(img.index.desc.digest);
    // the archive's index.json is kept as a blob, with the gc label for what it names
    const index = made.find((m) => m.name === 'whole-archive')!.target.digest;
    collect(b, 'stdin');
    expect(lsContent(b, 'stdin').find((x) => x.digest === index)!.labels).toEqual({ 'containerd.io/gc.ref.content.0': img.index.desc.digest });
  });

  it('names from org.opencontainers.image.ref.name: prefixed with the base name, or filtered by it', async () => {
    const files = await untar(readFileSync(join(tmp, 'app.tar')));
    const index = (...refs: string[]) =>
      json({ schemaVersion: 2, manifests: refs.map((ref) => ({ ...img.index.desc, annotations: { 'org.opencontainers.image.ref.name': ref } })) });
    const archive = (...refs: string[]) =>
      makeTar([
        ...[...files].filter(([n]) => (n.startsWith('blobs/sha256/') && !n.endsWith('/')) || n === 'oci-layout').map(([name, data]) => ({ name, data })),
        { name: 'index.json', data: index(...refs) },
      ]);
    const names = (args: string[], input: Buffer) => {
      const r = raw(b, ['-n', 'refnames', 'images', 'import', ...args, '-'], input);
      expect(r.code, r.stderr).toBe(0);
      return r.stdout.toString().trim().split('\n').filter(Boolean).sort();
    };
    const day = new Date().toISOString().slice(0, 10);
    expect(names([], archive('1'))).toEqual([`import-${day}:1`]);
    expect(names(['--base-name', 'example.com/app'], archive('1', 'example.com/app:2', 'example.org/else:3'))).toEqual([
      'example.com/app:1',
      'example.com/app:2',
    ]);
    expect(names(['--base-name', 'example.org/nothing'], archive('example.com/app:2'))).toEqual([]);
  });

  it('export refuses what is not present: --all-platforms names the missing manifest and platform; no file is left', () => {
    const file = join(tmp, 'all.tar');
    const r = a.berth(['images', 'export', '--all-platforms', file, 'example.com/app:1']);
    expect(r.code).toBe(1);
    const absent = JSON.parse(img.index.bytes.toString()).manifests[1];
    expect(r.stderr).toContain(`berth: cannot export example.com/app:1: manifest ${absent.digest}`);
    expect(r.stderr).toContain(`platform ${formatPlatform(img.otherPlatform)}`);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(existsSync(file)).toBe(false);
    const missing = b.berth(['images', 'import', join(tmp, 'no-such.tar')]);
    expect([missing.code, missing.stderr]).toEqual([1, expect.stringMatching(/^berth: ENOENT: no such file or directory, open '.*no-such\.tar'\n$/)]);
    const none = a.berth(['images', 'export', file, 'nope:1']);
    expect([none.code, none.stderr]).toEqual([1, 'berth: image nope:1: not found\n']);
    const otherPlatform = a.berth(['images', 'export', '--platform', formatPlatform(img.otherPlatform), file, 'example.com/app:1']);
    expect(otherPlatform.code).toBe(1);
    expect(otherPlatform.stderr).toMatch(/is missing/);
  });

  it('import of a docker save archive builds Docker schema2 manifests named by RepoTags', () => {
    const layerTar = gunzipSync(img.layer.bytes);
    const configHex = img.config.desc.digest.slice(7);
    const archive = makeTar([
      { name: `${configHex}.json`, data: img.config.bytes },
      { name: 'abc123/', type: 'Directory' },
      { name: 'abc123/layer.tar', data: layerTar },
      { name: 'gz/layer.tar.gz', data: img.layer.bytes },
      { name: 'repositories', data: json({ 'docker-test': { '1': 'abc123' } }) },
      {
        name: 'manifest.json',
        data: json([
          { Config: `${configHex}.json`, RepoTags: ['docker-test:1', 'example.com/team/app:2'], Layers: ['abc123/layer.tar'] },
          { Config: `${configHex}.json`, RepoTags: ['docker-test:gz'], Layers: ['gz/layer.tar.gz'] },
        ]),
      },
    ]);
    const r = raw(b, ['-n', 'docker', 'images', 'import', '--index-name', 'docker-index', '--format', 'json', '-'], archive);
    expect(r.code, r.stderr).toBe(0);
    const made = JSON.parse(r.stdout.toString()) as Array<{
      name: string;
      target: { digest: string; mediaType: string; annotations?: Record<string, string> };
    }>;
    expect(made.map((m) => m.name).sort()).toEqual([
      'docker-index',
      'docker.io/library/docker-test:1',
      'docker.io/library/docker-test:gz',
      'example.com/team/app:2',
    ]);
    const plain = made.find((m) => m.name === 'docker.io/library/docker-test:1')!.target;
    expect(plain.mediaType).toBe(MediaType.dockerManifest);
    expect(plain.annotations).toEqual({ 'io.containerd.image.name': 'docker.io/library/docker-test:1', 'org.opencontainers.image.ref.name': '1' });
    expect(made.find((m) => m.name === 'docker-index')!.target.mediaType).toBe(MediaType.ociIndex);
    collect(b, 'docker');
    const content = lsContent(b, 'docker');
    const manifests = content.filter((x) => x.labels['containerd.io/gc.ref.content.config']);
    expect(manifests.map((m) => m.labels['containerd.io/gc.ref.content.l.0']).sort()).toEqual([img.layer.desc.digest, sha(layerTar)].sort());
    expect(content.map((x) => x.digest)).toEqual(expect.arrayContaining([img.config.desc.digest, sha(layerTar), img.layer.desc.digest, plain.digest]));
    // the manifest built is what containerd's importer writes for it
    const manifest = ok(b.berth(['-n', 'docker', 'content', 'get', plain.digest])).stdout;
    expect(JSON.parse(manifest)).toEqual({
      schemaVersion: 2,
      mediaType: MediaType.dockerManifest,
      config: { mediaType: MediaType.dockerConfig, digest: img.config.desc.digest, size: img.config.desc.size },
      layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar', digest: sha(layerTar), size: layerTar.length }],
    });
    const check = JSON.parse(ok(b.berth(['-n', 'docker', 'images', 'check', '--format', 'json'])).stdout) as Array<{ name: string; complete: boolean }>;
    expect(check.every((x) => x.complete)).toBe(true);
  });

  describe('hostile archives: a clear error, and nothing an image names', () => {
    const ns = 'hostile';
    // an image the namespace lacks, so that every blob of it has to come from the archive
    const img = buildImage('hostile');
    const layout = { name: 'oci-layout', data: json({ imageLayoutVersion: '1.0.0' }) };
    const blob = (bytes: Buffer, name = `blobs/sha256/${sha(bytes).slice(7)}`) => ({ name, data: bytes });
    const indexOf = (...manifests: object[]) => ({ name: 'index.json', data: json({ schemaVersion: 2, manifests }) });
    const named = (d: object) => ({ ...d, annotations: { 'io.containerd.image.name': 'example.com/evil:1' } });
    let images: unknown;
    let content: string[];
    beforeAll(() => {
      ok(b.berth(['-n', ns, 'images', 'import', join(tmp, 'roundtrip.tar')]));
      collect(b, ns);
      images = lsImages(b, ns);
      content = digests(b, ns);
    });
    const refuse = (archive: Buffer, message: RegExp | string, flags: string[] = []) => {
      const r = raw(b, ['-n', ns, 'images', 'import', ...flags, '-'], archive);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(1);
      if (typeof message === 'string') expect(r.stderr).toContain(message);
      else expect(r.stderr).toMatch(message);
      expect(lsImages(b, ns)).toEqual(images);
      collect(b, ns);
      expect(digests(b, ns)).toEqual(content);
    };
    const good = [layout, ...img.blobs.map((x) => blob(x.bytes)), indexOf(named(img.index.desc))];

    it('accepts the well-formed archive these are variations of', () => {
      const r = raw(b, ['-n', 'hostile-ok', 'images', 'import', '-'], makeTar(good));
      expect([r.code, r.stdout.toString()]).toEqual([0, 'example.com/evil:1\n']);
    });
    it('a global PAX header (size=0, path=, ...) before the entries changes no entry: the same image as without it', () => {
      for (const [i, records] of globalRecords.entries()) {
        const r = raw(b, ['-n', `global-${i}`, 'images', 'import', '-'], withGlobalHeader(records, makeTar(good)));
        expect([r.code, r.stdout.toString(), r.stderr], JSON.stringify(records)).toEqual([0, 'example.com/evil:1\n', '']);
        expect(lsImages(b, `global-${i}`).map((x) => [x.name, x.target.digest])).toEqual([['example.com/evil:1', img.index.desc.digest]]);
      }
    });
    it('.. and absolute paths', () => {
      refuse(makeTar([layout, blob(img.layer.bytes, '../../etc/evil'), ...good.slice(1)]), 'archive entry "../../etc/evil" has a ".." path component');
      refuse(makeTar([layout, blob(img.layer.bytes, 'blobs/../../x'), ...good.slice(1)]), '".." path component');
      refuse(makeTar([{ name: '/etc/evil', data: img.layer.bytes }, ...good]), 'archive entry "/etc/evil" has an absolute path');
    });
    it('symlinks and hard links', () => {
      refuse(makeTar([...good.slice(0, -1), { name: 'index.json', type: 'SymbolicLink', linkpath: '/etc/passwd' }]), 'archive entry "index.json" is a symlink');
      refuse(makeTar([{ name: 'blobs/sha256/x', type: 'Link', linkpath: 'oci-layout' }, ...good]), 'is a hard link');
    });
    it('a blob whose bytes do not match its name, and bad blob names', () => {
      refuse(
        makeTar([layout, blob(Buffer.from('not the layer'), `blobs/sha256/${img.layer.desc.digest.slice(7)}`), ...good.slice(2)]),
        `blobs/sha256/${img.layer.desc.digest.slice(7)}: the bytes in the archive are not blob ${img.layer.desc.digest}`,
      );
      refuse(makeTar([...good, blob(Buffer.from('x'), 'blobs/sha256/XYZ')]), 'archive entry "blobs/sha256/XYZ" is not a blob name');
    });
    it('index.json naming a blob the archive lacks (the other blobs stay collectable)', () => {
      const lacking = good.filter((x) => x.name !== `blobs/sha256/${img.config.desc.digest.slice(7)}`);
      refuse(makeTar(lacking), `the archive is incomplete: config ${img.config.desc.digest}`);
      refuse(makeTar([layout, indexOf(named({ mediaType: MediaType.ociManifest, digest: sha('nothing'), size: 10 }))]), `manifest ${sha('nothing')}`);
      // --all-platforms wants the manifest for the platform the export left out
      refuse(makeTar(good), `platform ${formatPlatform(img.otherPlatform)}) is missing`, ['--all-platforms']);
    });
    it('duplicate entries and names', () => {
      refuse(makeTar([...good, layout]), 'archive entry "oci-layout" appears twice');
      refuse(makeTar([...good.slice(0, -1), indexOf(named(img.index.desc), named(img.manifest.desc))]), 'gives the name example.com/evil:1 to two images');
    });
    it('a huge index.json is refused from its header, without reading it', () => {
      const header = makeTar([{ name: 'index.json', size: 3 * 1024 ** 3 }]).subarray(0, 512);
      refuse(Buffer.concat([makeTar([layout]).subarray(0, 1024), header, Buffer.alloc(8 << 20, 0x20)]), 'index.json exceeds 20 MiB (3221225472 bytes)');
    });
    it('not a tar, a truncated tar, no layout, bad JSON', () => {
      refuse(Buffer.from('hello, this is not a tar archive at all'.repeat(40)), /not a valid tar archive|unrecognized image archive/);
      const whole = makeTar(good);
      refuse(whole.subarray(0, 1500), /not a valid tar archive: .*truncated/);
      refuse(makeTar(img.blobs.map((x) => blob(x.bytes))), 'unrecognized image archive');
      refuse(makeTar([layout, { name: 'index.json', data: Buffer.from('{"manifests": [') }]), 'index.json is not valid JSON');
      refuse(makeTar([{ name: 'oci-layout', data: json({ imageLayoutVersion: '9' }) }, ...good.slice(1)]), 'unsupported OCI layout version "9"');
    });
  });

  describe('with containerd and its ctr', () => {
    let ctd: Containerd | undefined;
    const ns = ['-n', 'ctrarchive'];
    beforeAll(async () => {
      if (!have('containerd') || !have('ctr')) return;
      ctd = await startContainerd();
      // written under a lease, so that containerd's collector cannot take a blob before the image names it
      const { BerthClient } = await import('../transport/client.ts');
      const c = new BerthClient({ address: ctd.address, namespace: 'ctrarchive', timeoutMs: 30_000 });
      const lease = (await c.leases.Create({ id: 'seed' })).lease!;
      const leased = new BerthClient({ ...c.options, lease: lease.id });
      await seed(leased, img, { 'example.com/app:1': img.target });
      await c.leases.Delete({ id: lease.id });
      leased.close();
      c.close();
    }, 60_000);
    afterAll(async () => {
      await ctd?.cleanup();
    });

    it('berth imports what `ctr images export` wrote on containerd', (t) => {
      if (!ctd) return t.skip('containerd or ctr is not installed');
      const file = join(tmp, 'from-ctr.tar');
      const r = ctd.ctr([...ns, 'images', 'export', file, 'example.com/app:1']);
      expect(r.code, r.stderr).toBe(0);
      expect(ok(b.berth(['-n', 'fromctr', 'images', 'import', file])).stdout).toBe('example.com/app:1\n');
      expect(lsImages(b, 'fromctr').map((i) => [i.name, i.target.digest])).toEqual([['example.com/app:1', img.index.desc.digest]]);
      collect(b, 'fromctr');
      expect(digests(b, 'fromctr')).toEqual(img.blobs.map((x) => x.desc.digest).sort());
    });

    it("`ctr images import` takes berth's export, on berthd and on containerd", (t) => {
      if (!ctd) return t.skip('containerd or ctr is not installed');
      const file = join(tmp, 'for-ctr.tar');
      ok(a.berth(['images', 'export', file, 'example.com/app:1', 'example.com/app:manifest']));
      for (const [who, ctr] of [
        ['containerd', ctd.ctr],
        ['berthd', a.ctr],
      ] as const) {
        const r = ctr(['-n', 'ctrimport', 'images', 'import', '--no-unpack', file]);
        expect(r.code, `${who}: ${r.stderr}`).toBe(0);
        const ls = ctr(['-n', 'ctrimport', 'images', 'ls', '-q']);
        expect(ls.stdout.trim().split('\n').sort(), who).toEqual(['example.com/app:1', 'example.com/app:manifest']);
        const check = ctr(['-n', 'ctrimport', 'images', 'check']);
        expect(check.stdout, who).toMatch(/example\.com\/app:1\s+\S+\s+\S+\s+complete \(2\/2\)/);
      }
    });

    it('behind a global PAX header, berth and `ctr images import` on containerd read the same images', (t) => {
      if (!ctd) return t.skip('containerd or ctr is not installed');
      const plain = join(tmp, 'for-global.tar');
      ok(a.berth(['images', 'export', plain, 'example.com/app:1', 'example.com/app:manifest']));
      for (const [i, records] of globalRecords.entries()) {
        const file = join(tmp, `global-${i}.tar`);
        writeFileSync(file, withGlobalHeader(records, readFileSync(plain)));
        const r = ctd.ctr(['-n', `ctrglobal-${i}`, 'images', 'import', '--no-unpack', file]);
        expect(r.code, r.stderr).toBe(0);
        const theirs = ctd
          .ctr(['-n', `ctrglobal-${i}`, 'images', 'ls'])
          .stdout.trim()
          .split('\n')
          .slice(1)
          .map((l) => l.split(/\s+/).filter((_, k) => k === 0 || k === 2))
          .sort();
        ok(b.berth(['-n', `ctrglobal-${i}`, 'images', 'import', file]));
        const ours = lsImages(b, `ctrglobal-${i}`)
          .map((x) => [x.name, x.target.digest])
          .sort();
        expect(ours, JSON.stringify(records)).toEqual(theirs);
        expect(ours.map(([name]) => name)).toEqual(['example.com/app:1', 'example.com/app:manifest']);
      }
    });
  });

  it("docker load takes berth's export", (t) => {
    if (!have('docker') || spawnSync('docker', ['info'], { stdio: 'ignore' }).status !== 0) return t.skip('no docker daemon running on this machine');
    const file = join(tmp, 'for-docker.tar');
    ok(a.berth(['images', 'export', file, 'example.com/app:1']));
    const r = spawnSync('docker', ['load', '-i', file], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('example.com/app:1');
    spawnSync('docker', ['rmi', 'example.com/app:1'], { stdio: 'ignore' });
  });
});
