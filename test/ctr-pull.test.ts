import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OciDescriptor } from '../core/oci/descriptor.ts';
import { RegistryClient } from '../core/registry/client.ts';
import { parseReference } from '../core/registry/reference.ts';
import { type Berthd, type Containerd, startBerthd, startContainerd } from './support/harness.ts';
import { buildTestImage, busyboxPath, pushImage } from './support/registry/images.ts';
import { startRegistry, type TestRegistry } from './support/registry/registry.ts';
import { normaliseCtr, startTogether } from './support/util.ts';

type Result = { code: number; stdout: string; stderr: string };
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/**
 * containerd's own ctr pulls from docker-registry into berthd (driving its content, leases,
 * images, snapshots and diff services as it does containerd's), side by side with a real
 * containerd; then ls/check/mount/export/import/tag/rm/push must give the same answers.
 */
describe('ctr images pull and friends against berthd, side by side with containerd', () => {
  let berthd: Berthd;
  let containerd: Containerd;
  let registry: TestRegistry;
  const reg = new RegistryClient();
  const img = buildTestImage({ kind: 'multi', label: 'ctr-pull' });
  const ns = ['-n', 'ctrpull'];
  const mounts: string[] = [];
  const dirs: string[] = [];
  let ref: string;

  const both = () => [
    { name: 'berthd', ctr: berthd.ctr },
    { name: 'containerd', ctr: containerd.ctr },
  ];

  beforeAll(async () => {
    [berthd, containerd, registry] = await startTogether([startBerthd(), startContainerd(), startRegistry()]);
    ref = `${registry.host}/ctr/app:1`;
    await pushImage(reg, parseReference(ref), img);
  }, 60_000);

  afterAll(async () => {
    for (const dir of mounts.splice(0)) {
      berthd.ctr([...ns, 'images', 'unmount', '--rm', dir]);
      spawnSync('umount', ['-l', dir]);
    }
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    reg.close();
    await Promise.all([berthd?.cleanup(), containerd?.cleanup(), registry?.stop()]);
  });

  const normalise = (s: string) => normaliseCtr(s);

  const same = (args: string[], filter: (s: string) => string = (s) => s) => {
    const r = { berth: berthd.ctr([...ns, ...args]), containerd: containerd.ctr([...ns, ...args]) };
    const result = (x: Result) => ({ code: x.code, out: filter(normalise(x.stdout)), err: x.code === 0 ? '' : normalise(x.stderr) });
    expect(result(r.berth), `ctr ${args.join(' ')}\nberthd: ${r.berth.stderr}`).toEqual(result(r.containerd));
    return r;
  };

  const tmp = (prefix: string) => {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    dirs.push(dir);
    return dir;
  };

  it('pull --plain-http succeeds on both, unpacking the layers', () => {
    for (const { name, ctr } of both()) {
      const r = ctr([...ns, 'images', 'pull', '--plain-http', ref]);
      expect(r.code, `${name}: ${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(/unpacking linux\/amd64 sha256:[0-9a-f]{64}\.\.\.\s*\ndone: /);
    }
  });

  it('a second pull finds everything there; no lease is left behind', () => {
    for (const { name, ctr } of both()) {
      const r = ctr([...ns, 'images', 'pull', '--plain-http', ref]);
      expect(r.code, `${name}: ${r.stderr}`).toBe(0);
    }
    same(['leases', 'ls']);
  });

  it('an index: the host platform is pulled, --all-platforms pulls the rest', async () => {
    const multi = buildTestImage({ kind: 'index', label: 'ctr-pull-index' });
    const indexRef = `${registry.host}/ctr/multi:1`;
    await pushImage(reg, parseReference(indexRef), multi);
    for (const { name, ctr } of both()) {
      const r = ctr(['-n', 'ctrindex', 'images', 'pull', '--plain-http', indexRef]);
      expect(r.code, `${name}: ${r.stderr}`).toBe(0);
    }
    const nsIndex = ['-n', 'ctrindex'];
    const cmp = (args: string[]) => {
      const r = { berth: berthd.ctr([...nsIndex, ...args]), containerd: containerd.ctr([...nsIndex, ...args]) };
      expect(normalise(r.berth.stdout), `ctr ${args.join(' ')}\nberthd: ${r.berth.stderr}`).toBe(normalise(r.containerd.stdout));
      expect(r.berth.code).toBe(r.containerd.code);
      return r;
    };
    expect(cmp(['images', 'ls']).berth.stdout).toMatch(/linux\/amd64,linux\/arm64/);
    cmp(['images', 'check']);
    // pushing needs every platform's blobs: both refuse before --all-platforms
    const target = `${registry.host}/ctr/multi-copy:1`;
    for (const { name, ctr } of both()) {
      const refused = ctr([...nsIndex, 'images', 'push', '--plain-http', target, indexRef]);
      expect([refused.code, refused.stderr], name).toEqual([1, expect.stringMatching(/^ctr: content digest sha256:[0-9a-f]{64}: not found\n$/)]);
    }
    for (const { name, ctr } of both()) {
      const r = ctr([...nsIndex, 'images', 'pull', '--all-platforms', '--plain-http', indexRef]);
      expect(r.code, `${name}: ${r.stderr}`).toBe(0);
    }
    cmp(['content', 'ls', '-q']);
    const pushed = berthd.ctr([...nsIndex, 'images', 'push', '--plain-http', target, indexRef]);
    expect(pushed.code, pushed.stderr).toBe(0);
    expect((await reg.resolve(target)).descriptor.digest).toBe(multi.root.digest);
  });

  it('pull into the native snapshotter, and a read-write mount of it', () => {
    const nsNative = ['-n', 'ctrnative'];
    for (const { name, ctr } of both()) {
      const r = ctr([...nsNative, 'images', 'pull', '--snapshotter', 'native', '--plain-http', ref]);
      expect(r.code, `${name}: ${r.stderr}`).toBe(0);
    }
    const snaps = both().map(({ ctr }) =>
      normalise(ctr([...nsNative, 'snapshots', '--snapshotter', 'native', 'ls']).stdout)
        .split('\n')
        .sort(),
    );
    expect(snaps[0]).toEqual(snaps[1]);
    expect(snaps[0]).toHaveLength(1 + img.layers.length);
    const dir = tmp('berth-ctr-mount-');
    mounts.push(dir);
    const r = berthd.ctr([...nsNative, 'images', 'mount', '--snapshotter', 'native', '--rw', ref, dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(dir, 'etc/motd'), 'utf8')).toBe('multi-layer berth test image\n');
    const u = berthd.ctr([...nsNative, 'images', 'unmount', '--snapshotter', 'native', '--rm', dir]);
    expect(u.code, u.stderr).toBe(0);
    mounts.splice(mounts.indexOf(dir), 1);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(dir);
  });

  it('a Docker schema2 image pulls the same', async () => {
    const docker = buildTestImage({ kind: 'multi', format: 'docker', label: 'ctr-pull-docker' });
    const dockerRef = `${registry.host}/ctr/docker:1`;
    await pushImage(reg, parseReference(dockerRef), docker);
    const nsDocker = ['-n', 'ctrdocker'];
    for (const { name, ctr } of both()) {
      const r = ctr([...nsDocker, 'images', 'pull', '--plain-http', dockerRef]);
      expect(r.code, `${name}: ${r.stderr}`).toBe(0);
    }
    for (const args of [
      ['images', 'ls'],
      ['images', 'check'],
      ['snapshots', 'ls'],
    ]) {
      const [a, b] = both().map(({ ctr }) =>
        normalise(ctr([...nsDocker, ...args]).stdout)
          .split('\n')
          .sort(),
      );
      expect(a, args.join(' ')).toEqual(b);
    }
    // and berth pushes it back unchanged (Docker media types kept)
    const copy = `${registry.host}/ctr/docker-copy:1`;
    const r = berthd.berth([...nsDocker, 'images', 'push', copy, dockerRef]);
    expect(r.code, r.stderr).toBe(0);
    expect((await reg.resolve(copy)).descriptor).toMatchObject({
      digest: docker.root.digest,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    });
  });

  it('images ls and check agree', () => {
    const ls = same(['images', 'ls']);
    expect(ls.berth.stdout).toContain(img.root.digest);
    const check = same(['images', 'check']);
    expect(check.berth.stdout).toMatch(/complete \(3\/3\).*true/);
  });

  it('the content carries the labels ctr sets (gc refs, distribution source, uncompressed)', () => {
    // AGE differs between the daemons; digests, sizes and labels must not
    same(['content', 'ls'], (s) => s.replace(/ (\d+ \w+|About an? \w+|Less than a second) /g, ' AGE '));
  });

  it('the committed snapshot chain is the same', () => {
    const snaps = same(['snapshots', 'ls'], (s) => s.split('\n').sort().join('\n'));
    expect(snaps.berth.stdout.trim().split('\n')).toHaveLength(1 + img.layers.length);
  });

  it("images mount shows the image's files on berthd; unmount --rm cleans up", () => {
    const dir = tmp('berth-ctr-mount-');
    mounts.push(dir);
    const r = berthd.ctr([...ns, 'images', 'mount', ref, dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(dir, 'bin/busybox')).equals(readFileSync(busyboxPath))).toBe(true);
    expect(readFileSync(join(dir, 'etc/motd'), 'utf8')).toBe('multi-layer berth test image\n');
    expect(readFileSync(join(dir, 'etc/old-dir/b'), 'utf8')).toBe('new in layer 2\n');
    expect(existsSync(join(dir, 'etc/old-file'))).toBe(false);
    expect(existsSync(join(dir, 'etc/old-dir/a'))).toBe(false);
    const u = berthd.ctr([...ns, 'images', 'unmount', '--rm', dir]);
    expect(u.code, u.stderr).toBe(0);
    mounts.splice(mounts.indexOf(dir), 1);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(dir);
    expect(existsSync(join(dir, 'bin'))).toBe(false);
    same(['snapshots', 'ls'], (s) => s.split('\n').sort().join('\n'));
  });

  it('an image pulled by ctr through berthd runs with berth, and with ctr on both daemons alike', () => {
    const r = berthd.berth([...ns, 'run', '--rm', ref, 'pulled-by-ctr', 'cat', '/etc/motd', '/etc/old-dir/b']);
    expect(r).toEqual({ code: 0, stdout: 'multi-layer berth test image\nnew in layer 2\n', stderr: '' });
    same(['run', '--rm', ref, 'pulled-ctr-run', 'ls', '/etc/old-dir']);
  });

  it('export from one daemon and import into the other (a fresh namespace there) keep every digest, both ways', () => {
    const dir = tmp('berth-ctr-export-');
    const lsOf = (ctr: Berthd['ctr'], n: string) => normalise(ctr(['-n', n, 'images', 'ls']).stdout);
    for (const [from, to, into] of [
      [berthd.ctr, containerd.ctr, 'from-berthd'],
      [containerd.ctr, berthd.ctr, 'from-containerd'],
    ] as const) {
      const file = join(dir, `${into}.tar`);
      const e = from([...ns, 'images', 'export', file, ref]);
      expect(e.code, e.stderr).toBe(0);
      const i = to(['-n', into, 'images', 'import', file]);
      expect(i.code, i.stderr).toBe(0);
      // the same name, target digest, size and platform as where it came from
      expect(lsOf(to, into)).toBe(lsOf(from, 'ctrpull'));
      expect(lsOf(to, into)).toContain(`${ref} ${img.root.mediaType} ${img.root.digest}`);
      const check = to(['-n', into, 'images', 'check']);
      expect(check.stdout).toMatch(/complete \(3\/3\)/);
    }
  });

  it('images tag and rm', () => {
    same(['images', 'tag', ref, `${registry.host}/ctr/app:2`]);
    same(['images', 'ls', '-q']);
    same(['images', 'rm', `${registry.host}/ctr/app:2`, 'example.com/nope:1']);
    same(['images', 'ls']);
  });

  it('images push --plain-http from berthd puts every blob in the registry', async () => {
    const target = `${registry.host}/ctr/pushed:1`;
    const r = berthd.ctr([...ns, 'images', 'push', '--plain-http', target, ref]);
    expect(r.code, r.stderr).toBe(0);
    const resolved = await reg.resolve(target);
    expect(resolved.descriptor.digest).toBe(img.root.digest);
    const manifest = await reg.fetchManifest(resolved.reference, resolved.descriptor);
    const doc = JSON.parse(manifest.toString()) as { config: OciDescriptor; layers: OciDescriptor[] };
    for (const b of [doc.config, ...doc.layers]) {
      const blob = await reg.fetchBlob(resolved.reference, b);
      const parts: Buffer[] = [];
      for await (const p of blob.body) parts.push(p as Buffer);
      expect(sha(Buffer.concat(parts))).toBe(b.digest);
    }
  });

  it('berth images push of what ctr pulled mounts the blobs from the repository they came from', async () => {
    const target = `${registry.host}/other/app:1`;
    const r = berthd.berth([...ns, 'images', 'push', target, ref]);
    expect(r.code, r.stderr).toBe(0);
    for (const l of img.layers) expect(r.stdout).toContain(`layer-${l.digest} mounted from ctr/`);
    expect((await reg.resolve(target)).descriptor.digest).toBe(img.root.digest);
  });
});
