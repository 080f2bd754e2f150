import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DiffRequest } from '../api/gen/containerd/services/diff/v1/DiffRequest.ts';
import type { Descriptor } from '../api/gen/containerd/types/Descriptor.ts';
import type { Mount, Mount__Output } from '../api/gen/containerd/types/Mount.ts';
import { lgetxattr } from '../native/index.ts';
import type { BerthClient } from '../transport/client.ts';
import { writeBlob } from '../transport/clients/content.ts';
import { type Berthd, startBerthd } from './support/harness.ts';
import { hostPwned } from './support/layers/sandbox.ts';
import { d, f, gz, s, tar } from './support/layers/tarbuild.ts';
import { errorCode, failure, sha } from './support/util.ts';

const gcRoot = { 'containerd.io/gc.root': 'test' };
const tarGz = 'application/vnd.oci.image.layer.v1.tar+gzip';

describe('diff service (containerd.services.diff.v1.Diff) through a real berthd', () => {
  let b: Berthd;
  let c: BerthClient;
  const snapshotter = 'overlayfs';
  const apply = (diff: Descriptor, mounts: Mount[]) => c.diff.Apply({ diff, mounts });
  const compare = (left: Mount[], right: Mount[], extra: DiffRequest = {}) => c.diff.Diff({ left, right, ...extra });
  const store = async (bytes: Buffer) => (await writeBlob(c, bytes, { ref: `t-${sha(bytes)}`, expected: sha(bytes), labels: gcRoot })).digest;
  const fsDir = (mounts: Mount__Output[]) => {
    const m = mounts[0]!;
    return m.type === 'bind' ? m.source : m.options.find((o) => o.startsWith('upperdir='))!.slice('upperdir='.length);
  };
  const leftoverMounts = () =>
    fs
      .readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .filter((l) => l.includes(b.state));

  beforeAll(async () => {
    b = await startBerthd();
    c = b.client();
  });
  afterAll(async () => {
    await b?.cleanup();
  });

  const layer1 = tar([
    d('etc'),
    f('etc/os-release', 'berth'),
    f('etc/gone', 'x'),
    d('usr'),
    s('bin', 'usr/bin'),
    d('usr/bin'),
    f('usr/bin/sh', '#!', { mode: 0o755 }),
  ]);
  const layer2 = tar([d('etc'), f('etc/.wh.gone'), f('etc/new', 'n'), d('usr'), f('usr/.wh..wh..opq'), f('usr/only', 'o')]);

  it('registers io.containerd.differ.v1 walking and the diff gRPC service', () => {
    const plugins = b.ctr(['plugins', 'ls']).stdout;
    expect(plugins).toMatch(/io\.containerd\.differ\.v1\s+walking\s+linux\/\w+\s+ok/);
    expect(plugins).toMatch(/io\.containerd\.grpc\.v1\s+diff\s+-\s+ok/);
  });

  it('Apply onto a first (bind) and a second (overlay) snapshot; Diff gives the layer back', async () => {
    const digest1 = await store(gz(layer1));
    const m1 = (await c.snapshots.Prepare({ snapshotter, key: 'l1', parent: '', labels: gcRoot })).mounts;
    expect(m1[0]!.type).toBe('bind');
    const applied = (await apply({ media_type: tarGz, digest: digest1, size: gz(layer1).length }, m1)).applied!;
    expect(applied.media_type).toBe('application/vnd.oci.image.layer.v1.tar');
    expect(applied.digest).toBe(sha(layer1));
    expect(Number(applied.size)).toBe(layer1.length);
    expect(fs.readFileSync(join(fsDir(m1), 'etc/os-release'), 'utf8')).toBe('berth');
    await c.snapshots.Commit({ snapshotter, name: 'l1c', key: 'l1', labels: gcRoot });

    const digest2 = await store(gz(layer2));
    const m2 = (await c.snapshots.Prepare({ snapshotter, key: 'l2', parent: 'l1c', labels: gcRoot })).mounts;
    expect(m2[0]!.type).toBe('overlay');
    const r2 = await apply({ media_type: tarGz, digest: digest2, size: 0 }, m2);
    expect(r2.applied!.digest).toBe(sha(layer2));
    // the overlay fast path: overlay whiteouts straight in the upperdir
    const upper = fsDir(m2);
    const wh = fs.lstatSync(join(upper, 'etc/gone'));
    expect(wh.isCharacterDevice() && wh.rdev === 0).toBe(true);

    // Diff of l2 against its parent, stored gzip-compressed and labelled with its diffID
    const left = (await c.snapshots.View({ snapshotter, key: 'l1v', parent: 'l1c', labels: gcRoot })).mounts;
    const diff = (await compare(left, m2, { ref: 'my-diff', labels: { a: 'b' } })).diff!;
    expect(diff.media_type).toBe(tarGz);
    const info = (await c.content.Info({ digest: diff.digest })).info!;
    expect(Number(info.size)).toBe(Number(diff.size));
    expect(info.labels.a).toBe('b');
    const diffID = info.labels['containerd.io/uncompressed']!;
    expect(diffID).toMatch(/^sha256:/);

    // applying that layer onto a fresh child of l1c gives the same tree as l2
    const m3 = (await c.snapshots.Prepare({ snapshotter, key: 'l3', parent: 'l1c', labels: gcRoot })).mounts;
    const r3 = await apply({ media_type: tarGz, digest: diff.digest, size: diff.size }, m3);
    expect(r3.applied!.digest).toBe(diffID);
    const up3 = fsDir(m3);
    expect(fs.lstatSync(join(up3, 'etc/gone')).isCharacterDevice()).toBe(true);
    expect(fs.readFileSync(join(up3, 'etc/new'), 'utf8')).toBe('n');
    expect(fs.readFileSync(join(up3, 'usr/only'), 'utf8')).toBe('o');
    expect(fs.readdirSync(join(up3, 'usr'))).toEqual(['only']);

    // Diff between two bind-mounted trees (no overlay): the same changes
    const again = (
      await compare(left, [{ type: 'bind', source: up3, options: ['ro', 'rbind'] }], {
        media_type: 'application/vnd.oci.image.layer.v1.tar',
      })
    ).diff!;
    expect(again.media_type).toBe('application/vnd.oci.image.layer.v1.tar');
    expect(leftoverMounts()).toEqual([]);
  });

  it('a hostile layer fails with InvalidArgument, leaves nothing mounted, nothing outside, and the fresh snapshot empty', async () => {
    const pwned = hostPwned();
    const bad = tar([f('.wh..wh..opq'), f('ok', 'x'), s('out', '/'), f('out/tmp/PWN-diff-service', 'x'), f('etc/.wh...')]);
    const digest = await store(gz(bad));
    // a first snapshot (bind mount, plain mode) and a child of l1c (overlay fast path: the upperdir)
    for (const [key, parent, type] of [
      ['hostile', '', 'bind'],
      ['hostile2', 'l1c', 'overlay'],
    ] as const) {
      const m = (await c.snapshots.Prepare({ snapshotter, key, parent, labels: gcRoot })).mounts;
      expect(m[0]!.type).toBe(type);
      const err = await failure(apply({ media_type: tarGz, digest, size: 0 }, m));
      expect(err.code).toBe('InvalidArgument');
      expect(err.message).toMatch(/etc\/\.wh\.\.\..*invalid whiteout name/);
      expect(leftoverMounts()).toEqual([]);
      expect(hostPwned()).toEqual(pwned);
      // the target was empty: what was applied before the failure is gone again, opaque mark included
      expect(fs.readdirSync(fsDir(m))).toEqual([]);
      expect(lgetxattr(fsDir(m), 'trusted.overlay.opaque')).toBeNull();
      await c.snapshots.Remove({ snapshotter, key });
    }
  });

  it('clear errors: unknown media type, missing blob, missing descriptor', async () => {
    const digest = await store(gz(layer1));
    const m = (await c.snapshots.Prepare({ snapshotter, key: 'errs', parent: '', labels: gcRoot })).mounts;
    expect(await errorCode(apply({ media_type: 'application/x-unknown', digest, size: 0 }, m))).toBe('Unimplemented');
    expect(await errorCode(apply({ media_type: tarGz, digest: sha('nothing'), size: 0 }, m))).toBe('NotFound');
    expect(await errorCode(c.diff.Apply({ mounts: m }))).toBe('InvalidArgument');
    expect(leftoverMounts()).toEqual([]);
  });

  it('berth layer apply FILE KEY and berth layer diff KEY', async () => {
    const file = join(b.dir, 'layer.tgz');
    fs.writeFileSync(file, gz(tar([d('srv'), f('srv/index.html', 'hi')])));
    b.berth(['snapshots', 'prepare', 'cli1']);
    const applied = b.berth(['layer', 'apply', file, 'cli1']);
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    expect(JSON.parse(applied.stdout).applied.digest).toBe(sha(tar([d('srv'), f('srv/index.html', 'hi')])));
    b.berth(['snapshots', 'commit', 'cli1c', 'cli1']);
    b.berth(['snapshots', 'prepare', 'cli2', 'cli1c']);
    const byDigest = b.berth(['layer', 'apply', JSON.parse(applied.stdout).layer.digest, 'cli2']);
    expect(byDigest.code).toBe(0);
    const diffed = b.berth(['layer', 'diff', 'cli2']);
    expect(diffed.stderr).toBe('');
    const desc = JSON.parse(diffed.stdout);
    expect(desc.media_type).toBe(tarGz);
    expect(desc.diff_id).toMatch(/^sha256:/);
    // ctr 1.6 talks to the same service (it writes the gzip layer to stdout)
    const viaCtr = b.ctr(['snapshots', 'diff', 'cli2']);
    expect(viaCtr.stderr).toBe('');
    expect(viaCtr.code).toBe(0);
    expect(viaCtr.stdout.length).toBeGreaterThan(20);
  });
});
