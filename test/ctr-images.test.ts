import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BerthClient } from '../transport/client.ts';
import { type Berthd, type Containerd, startBerthd, startContainerd } from './support/harness.ts';
import { buildImage, type TestImage, wireDescriptor } from './support/image-fixture.ts';
import { normaliseCtr, sha, startTogether } from './support/util.ts';

type Result = { code: number; stdout: string; stderr: string };

/**
 * containerd's ctr runs `ctr images ls|check|tag|rm` against berthd and a real containerd side
 * by side. Both daemons get the same blobs (`ctr content ingest`, gc.ref labels set with
 * `ctr content label` as a pull sets them) and the same image records (Images.Create from the
 * gRPC client, which speaks to containerd as well); then ctr's answers must agree.
 */
describe('ctr images against berthd and against containerd', () => {
  let berthd: Berthd;
  let containerd: Containerd;
  const clients: BerthClient[] = [];
  const namespace = 'ctrimg';
  const ns = ['-n', namespace];
  let img: TestImage;

  const daemons = () => [
    { ctr: berthd.ctr, address: berthd.address },
    { ctr: containerd.ctr, address: containerd.address },
  ];

  beforeAll(async () => {
    [berthd, containerd] = await startTogether([startBerthd(), startContainerd()]);
    img = buildImage('ctr-images');
    for (const { ctr, address } of daemons()) {
      for (const b of img.blobs) {
        const r = ctr([...ns, 'content', 'ingest', '--expected-size', String(b.desc.size), '--expected-digest', b.desc.digest, `ingest-${b.desc.digest}`], {
          input: b.bytes,
        });
        expect(r.code, r.stderr).toBe(0);
        const labels = Object.entries(b.labels).map(([k, v]) => `${k}=${v}`);
        if (labels.length > 0) expect(ctr([...ns, 'content', 'label', b.desc.digest, ...labels]).code).toBe(0);
      }
      const c = new BerthClient({ address, namespace, timeoutMs: 30_000 });
      clients.push(c);
      await c.images.Create({ image: { name: 'example.com/app:1', labels: { team: 'a', tier: '1' }, target: wireDescriptor(img.target) } });
      await c.images.Create({ image: { name: 'example.com/app:manifest', target: wireDescriptor(img.manifest.desc) } });
      // an image whose blobs are not there at all
      await c.images.Create({ image: { name: 'example.com/missing', target: wireDescriptor({ ...img.index.desc, digest: sha('not stored') }) } });
    }
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await Promise.all([berthd?.cleanup(), containerd?.cleanup()]);
  });

  const normalise = (s: string) => normaliseCtr(s);

  const same = (args: string[]) => {
    const r = { berth: berthd.ctr([...ns, 'images', ...args]), containerd: containerd.ctr([...ns, 'images', ...args]) };
    const result = (x: Result) => ({ code: x.code, out: normalise(x.stdout), err: x.code === 0 ? '' : normalise(x.stderr) });
    expect(result(r.berth), `ctr images ${args.join(' ')}\nberthd: ${r.berth.stderr}`).toEqual(result(r.containerd));
    return r;
  };

  it('ls: sizes and platforms worked out from the blobs, labels, filters, -q', () => {
    const ls = same(['ls']);
    expect(ls.berth.stdout).toMatch(
      /example\.com\/app:1\s+application\/vnd\.oci\.image\.index\.v1\+json\s+sha256:\S+\s+\d+(\.\d+)? KiB\s+linux\/\S+,linux\/\S+\s+team=a,tier=1/,
    );
    same(['ls', '-q']);
    same(['ls', 'labels.team==a']);
    same(['ls', 'name~=manifest', `target.digest==${img.target.digest}`]);
    same(['ls', 'target.mediatype==application/vnd.oci.image.manifest.v1+json']);
    // both refuse a bad filter (the parse error's wording is filters.ts's, not compared here)
    for (const ctr of [berthd.ctr, containerd.ctr]) {
      const bad = ctr([...ns, 'images', 'ls', 'name==']);
      expect([bad.code, bad.stderr]).toEqual([
        1,
        expect.stringMatching(/^ctr: failed to list images: filters: parse error: .*expected value or quoted: invalid argument/),
      ]);
    }
  });

  it('check: present and required blobs, unavailable images, -q', () => {
    const check = same(['check']);
    expect(check.berth.stdout).toMatch(/example\.com\/app:1 .* complete \(2\/2\) .* false/);
    expect(check.berth.stdout).toMatch(/example\.com\/missing .* unavailable \(0\/\?\)/);
    same(['check', '-q']);
    same(['check', 'name==example.com/app:manifest']);
    // a committed snapshot named by the layers' chain ID (one layer: its diff ID) is "unpacked"
    for (const ctr of [berthd.ctr, containerd.ctr]) {
      expect(ctr([...ns, 'snapshots', 'prepare', 'unpack-1', '']).code).toBe(0);
      expect(ctr([...ns, 'snapshots', 'commit', img.diffId, 'unpack-1']).code).toBe(0);
    }
    const unpacked = same(['check']);
    expect(unpacked.berth.stdout).toMatch(/example\.com\/app:1 .* complete \(2\/2\) .* true/);
    for (const ctr of [berthd.ctr, containerd.ctr]) expect(ctr([...ns, 'snapshots', 'rm', img.diffId]).code).toBe(0);
    same(['check', '-q']);
  });

  it('tag, tag --force, and rm (with --sync letting the collector take the blobs)', () => {
    same(['tag', 'example.com/app:1', 'example.com/app:2', 'example.com/app:3']);
    same(['tag', 'example.com/app:1', 'example.com/app:2']);
    same(['tag', '--force', 'example.com/app:manifest', 'example.com/app:2']);
    same(['tag', 'nope', 'example.com/x']);
    same(['ls']);
    same(['rm', 'example.com/app:2', 'nope', 'example.com/app:3']);
    same(['rm', 'example.com/missing']);
    same(['ls', '-q']);
    // the manifest image still holds the manifest, config and layer; the index goes
    same(['rm', '--sync', 'example.com/app:1']);
    const content = { berth: berthd.ctr([...ns, 'content', 'ls', '-q']), containerd: containerd.ctr([...ns, 'content', 'ls', '-q']) };
    expect(content.berth.stdout.trim().split('\n').sort()).toEqual(content.containerd.stdout.trim().split('\n').sort());
    expect(content.berth.stdout.trim().split('\n').sort()).toEqual([img.manifest, img.config, img.layer].map((b) => b.desc.digest).sort());
    same(['rm', '--sync', 'example.com/app:manifest']);
    same(['ls']);
    expect(berthd.ctr([...ns, 'content', 'ls', '-q']).stdout).toBe('');
    expect(containerd.ctr([...ns, 'content', 'ls', '-q']).stdout).toBe('');
  });
});
