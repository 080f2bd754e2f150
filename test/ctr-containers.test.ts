import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BerthClient } from '../transport/client.ts';
import { writeBlob } from '../transport/clients/content.ts';
import { type Berthd, type Containerd, startBerthd, startContainerd } from './support/harness.ts';
import { wireDescriptor } from './support/image-fixture.ts';
import { buildRunImage, loadRunImage, type RunImage } from './support/run-image.ts';
import { normaliseCtr, startTogether } from './support/util.ts';

type Result = { code: number; stdout: string; stderr: string };

/**
 * containerd's ctr runs `ctr containers create|ls|info|label|rm` (and `ctr snapshots ls` for the
 * containers' snapshots) against berthd and against a real containerd side by side. Both hold
 * the same unpacked busybox image; exit codes, output and errors must agree once times are
 * blanked.
 */
describe('ctr containers against berthd and against containerd', () => {
  let berthd: Berthd;
  let containerd: Containerd;
  let img: RunImage;

  beforeAll(async () => {
    [berthd, containerd] = await startTogether([startBerthd(), startContainerd()]);
    img = buildRunImage();
  });
  afterAll(async () => {
    await Promise.all([berthd?.cleanup(), containerd?.cleanup()]);
  });

  /** The run image in namespace ns of both daemons; ctr unpacks it in containerd on first use. */
  const seed = async (ns: string) => {
    await loadRunImage(berthd, { ns, image: img });
    const c = new BerthClient({ address: containerd.address, namespace: ns, timeoutMs: 30_000 });
    try {
      await c.leases.Create({ id: 'seed' });
      const leased = new BerthClient({ ...c.options, lease: 'seed' });
      try {
        for (const [digest, blob] of img.blobs) await writeBlob(leased, blob.bytes, { ref: `seed-${digest}`, expected: digest, labels: blob.labels });
      } finally {
        leased.close();
      }
      await c.images.Create({ image: { name: img.name, target: wireDescriptor(img.manifest) } });
      await c.leases.Delete({ id: 'seed' });
    } finally {
      c.close();
    }
  };

  /** Removes every container (and its snapshot) and the image, and checks nothing is left. */
  const clean = async (ns: string) => {
    for (const ctr of [berthd.ctr, containerd.ctr]) {
      const ids = ctr(['-n', ns, 'containers', 'ls', '-q']).stdout.split('\n').filter(Boolean);
      if (ids.length > 0) expect(ctr(['-n', ns, 'containers', 'rm', ...ids]).code).toBe(0);
      expect(ctr(['-n', ns, 'images', 'rm', '--sync', img.name]).code).toBe(0);
    }
  };

  /** A collection in both daemons now (deleting a lease with sync waits for one). */
  const collectNow = async (ns: string) => {
    for (const address of [berthd.address, containerd.address]) {
      const c = new BerthClient({ address, namespace: ns, timeoutMs: 30_000 });
      try {
        await c.leases.Create({ id: 'collect-now' });
        await c.leases.Delete({ id: 'collect-now', sync: true });
      } finally {
        c.close();
      }
    }
  };

  const normalise = (s: string) => normaliseCtr(s);

  const same = (ns: string, args: string[]) => {
    const full = ['-n', ns, ...args];
    const r = { berth: berthd.ctr(full), containerd: containerd.ctr(full) };
    const result = (x: Result) => ({ code: x.code, out: normalise(x.stdout), err: x.code === 0 ? '' : normalise(x.stderr) });
    expect(result(r.berth), `ctr ${full.join(' ')}\nberthd: ${r.berth.stderr}`).toEqual(result(r.containerd));
    return r;
  };
  const ok = (ns: string, args: string[]) => {
    const r = same(ns, args);
    expect(r.berth.code, r.berth.stderr).toBe(0);
    return r;
  };
  const fails = (ns: string, args: string[], message: string) => {
    const r = same(ns, args);
    expect([r.berth.code, r.berth.stderr.trim().split('\n').at(-1)]).toEqual([1, `ctr: ${message}`]);
  };

  it('create, ls, ls -q, info and snapshots ls', async () => {
    const ns = 'ctrc-basic';
    await seed(ns);
    try {
      // (ctr reads a `-c` among the command's words as its own --config flag, so none here)
      ok(ns, ['containers', 'create', img.name, 'one', 'sleep', '30']);
      ok(ns, ['containers', 'create', '--label', 'team=a', '--label', 'tier=1', '--env', 'X=1', img.name, 'two']);
      ok(ns, ['containers', 'create', '--snapshotter', 'native', img.name, 'three']);
      const ls = same(ns, ['containers', 'ls']);
      expect(ls.berth.stdout).toMatch(
        /^CONTAINER\s+IMAGE\s+RUNTIME\s*\none\s+docker\.io\/library\/busybox:latest\s+io\.containerd\.runc\.v2\s*\nthree\s+.*\ntwo\s+/,
      );
      expect(same(ns, ['containers', 'ls', '-q']).berth.stdout).toBe('one\nthree\ntwo\n');
      same(ns, ['containers', 'ls', 'labels.team==a']);
      same(ns, ['containers', 'ls', '-q', 'id~=^t', 'id==one']);
      same(ns, ['containers', 'ls', 'runtime.name==io.containerd.runc.v2,image~=busybox']);
      same(ns, ['containers', 'ls', 'image==nope']);
      expect(same(ns, ['containers', 'ls', 'id==']).berth.code).toBe(1);
      const info = same(ns, ['containers', 'info', 'one']);
      const parsed = JSON.parse(info.berth.stdout);
      expect(parsed).toMatchObject({ ID: 'one', Image: img.name, Runtime: { Name: 'io.containerd.runc.v2' }, Snapshotter: 'overlayfs', SnapshotKey: 'one' });
      expect(parsed.Spec.process.args).toEqual(['sleep', '30']);
      ok(ns, ['containers', 'info', 'two']);
      ok(ns, ['containers', 'info', '--spec', 'two']);
      // each container has an active snapshot on the image's committed layer
      const snaps = same(ns, ['snapshots', 'ls']);
      expect(snaps.berth.stdout).toMatch(/\none\s+sha256:[0-9a-f]{64}\s+Active/);
      ok(ns, ['snapshots', '--snapshotter', 'native', 'ls']);
      ok(ns, ['snapshots', 'info', 'one']);
    } finally {
      await clean(ns);
    }
    same(ns, ['containers', 'ls']);
    same(ns, ['snapshots', 'ls']);
  });

  it('label sets and clears labels', async () => {
    const ns = 'ctrc-label';
    await seed(ns);
    try {
      ok(ns, ['containers', 'create', '--label', 'keep=1', img.name, 'lab']);
      expect(ok(ns, ['containers', 'label', 'lab', 'a=1', 'b=2']).berth.stdout.trim().split(',').sort()).toEqual([
        'a=1',
        'b=2',
        'io.containerd.image.config.stop-signal=SIGTERM',
        'keep=1',
      ]);
      ok(ns, ['containers', 'label', 'lab', 'a=', 'c=3']);
      // no labels: ctr sends an update without a field mask, which also replaces the snapshotter
      // with the request's empty one, and that is refused
      fails(ns, ['containers', 'label', 'lab'], 'container.Snapshotter field is immutable: invalid argument');
      ok(ns, ['containers', 'info', 'lab']);
      same(ns, ['containers', 'ls', 'labels.c==3']);
      fails(ns, ['containers', 'label', 'missing', 'a=1'], 'container "missing" in namespace "ctrc-label": not found');
    } finally {
      await clean(ns);
    }
  });

  it('rm removes the container and its snapshot; errors for missing containers', async () => {
    const ns = 'ctrc-rm';
    await seed(ns);
    try {
      ok(ns, ['containers', 'create', img.name, 'a']);
      ok(ns, ['containers', 'create', img.name, 'b']);
      ok(ns, ['containers', 'create', img.name, 'c']);
      fails(ns, ['containers', 'create', img.name, 'a'], 'snapshot "a": already exists');
      ok(ns, ['containers', 'rm', 'a']);
      same(ns, ['snapshots', 'ls']);
      // the kept snapshot has nothing holding it (no gc.root label, ctr's lease is gone), so both
      // daemons' collectors take it soon after the container goes
      ok(ns, ['containers', 'rm', '--keep-snapshot', 'b']);
      await collectNow(ns);
      same(ns, ['snapshots', 'ls']);
      fails(ns, ['snapshots', 'rm', 'b'], 'failed to remove "b": snapshot b does not exist: not found');
      // the first failure is reported, and the other containers are still removed
      fails(ns, ['containers', 'rm', 'nope', 'c'], 'container "nope" in namespace "ctrc-rm": not found');
      expect(same(ns, ['containers', 'ls', '-q']).berth.stdout).toBe('');
      same(ns, ['snapshots', 'ls']);
      fails(ns, ['containers', 'rm', 'a'], 'container "a" in namespace "ctrc-rm": not found');
      fails(ns, ['containers', 'info', 'a'], 'container "a" in namespace "ctrc-rm": not found');
      fails(ns, ['containers', 'info'], 'container id must be provided: invalid argument');
      fails(ns, ['containers', 'rm'], 'must specify at least one container to delete: invalid argument');
      fails(ns, ['containers', 'create', 'no.such/image:1', 'x'], 'image "no.such/image:1": not found');
      fails(
        ns,
        ['containers', 'create', img.name, 'bad/id'],
        'create container failed validation: container.ID: identifier "bad/id" must match ^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$: invalid argument',
      );
      same(ns, ['containers', 'create', img.name, '-bad']);
      expect(same(ns, ['containers', 'ls', '-q']).berth.stdout).toBe('');
    } finally {
      await clean(ns);
    }
  });
});
