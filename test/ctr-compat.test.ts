import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Berthd, type Containerd, startBerthd, startContainerd } from './support/harness.ts';
import { normaliseCtr, sha, startTogether } from './support/util.ts';

/**
 * containerd's own ctr drives berthd and a real containerd side by side with the same
 * commands; the results (exit code, output with times blanked, bytes) must be the same.
 */
describe('ctr against berthd and against containerd', () => {
  let berthd: Berthd;
  let containerd: Containerd;
  beforeAll(async () => {
    [berthd, containerd] = await startTogether([startBerthd(), startContainerd()]);
  });
  afterAll(async () => {
    await Promise.all([berthd?.cleanup(), containerd?.cleanup()]);
  });

  // Ages and times differ between two runs; the rest of the output must not.
  const normalise = (s: string) => normaliseCtr(s);

  const both = (args: string[], input?: string | Buffer) => {
    const a = berthd.ctr(args, { input });
    const b = containerd.ctr(args, { input });
    return { berth: a, containerd: b };
  };

  const same = (args: string[], input?: string | Buffer) => {
    const r = both(args, input);
    const result = (x: { code: number; stdout: string; stderr: string }) => ({
      code: x.code,
      out: normalise(x.stdout),
      err: x.code === 0 ? '' : normalise(x.stderr),
    });
    expect(result(r.berth), `ctr ${args.join(' ')}`).toEqual(result(r.containerd));
    return r;
  };

  it('version: both answer with a server version and UUID', () => {
    const r = both(['version']);
    for (const x of [r.berth, r.containerd]) {
      expect(x.code).toBe(0);
      expect(x.stdout).toMatch(/Server:\n\s+Version:\s+\S+\n\s+Revision:.*\n\s+UUID: [0-9a-f-]{36}/);
    }
  });

  it('plugins ls: lists the plugins, each ok', () => {
    const r = both(['plugins', 'ls']);
    expect(r.berth.code).toBe(0);
    const rows = r.berth.stdout
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.trim().split(/\s+/));
    const have = rows.map(([type, id, , status]) => `${type} ${id} ${status}`);
    for (const want of ['content', 'leases', 'namespaces', 'events', 'version', 'introspection']) {
      expect(have).toContain(`io.containerd.grpc.v1 ${want} ok`);
      // the same service plugins containerd lists
      expect(r.containerd.stdout).toMatch(new RegExp(`io\\.containerd\\.grpc\\.v1\\s+${want}\\s`));
    }
    const filtered = both(['plugins', 'ls', 'type==io.containerd.content.v1']);
    expect(normalise(filtered.berth.stdout)).toBe(normalise(filtered.containerd.stdout));
  });

  it('namespaces create, label, ls and rm', () => {
    same(['namespaces', 'create', 'compat', 'team=a', 'tier=1']);
    same(['namespaces', 'create', 'compat']); // already exists: same failure
    same(['namespaces', 'label', 'compat', 'tier=2', 'team=']);
    same(['namespaces', 'ls']);
    same(['namespaces', 'ls', '-q']);
    same(['namespaces', 'rm', 'compat']);
    same(['namespaces', 'ls']);
    same(['namespaces', 'rm', 'never-made']);
    const bad = same(['namespaces', 'create', '../etc']);
    expect(bad.berth.stderr).toContain('invalid argument');
    same(['namespaces', 'create', 'x'.repeat(77)]);
  });

  it('content ingest, ls, get, label, active and rm', () => {
    const data = randomBytes(300_000);
    const digest = sha(data);
    const ns = ['-n', 'blobs'];
    const ingest = same([...ns, 'content', 'ingest', '--expected-size', String(data.length), '--expected-digest', digest, 'ref-1'], data);
    expect(ingest.berth.code).toBe(0);
    same([...ns, 'content', 'ls']);
    same([...ns, 'content', 'ls', '-q']);
    const got = both([...ns, 'content', 'get', digest]);
    expect(got.berth.code).toBe(0);
    expect(Buffer.from(got.berth.stdout, 'latin1').length).toBeGreaterThan(0);
    same([...ns, 'content', 'label', digest, 'containerd.io/gc.root=now', 'x=y']);
    same([...ns, 'content', 'ls']);
    same([...ns, 'content', 'label', digest, 'x=']);
    same([...ns, 'content', 'ls', 'labels.x']);
    same([...ns, 'content', 'active']);
    // a second ingest of the same blob changes nothing
    same([...ns, 'content', 'ingest', '--expected-size', String(data.length), '--expected-digest', digest, 'ref-2'], data);
    same([...ns, 'content', 'ls']);
    // the wrong digest fails on both and stores nothing
    const wrong = same([...ns, 'content', 'ingest', '--expected-digest', sha('other'), 'ref-3'], 'some bytes');
    expect(wrong.berth.code).not.toBe(0);
    same([...ns, 'content', 'ls', '-q']);
    same([...ns, 'content', 'rm', digest]);
    same([...ns, 'content', 'ls']);
    same([...ns, 'content', 'get', digest]);
    same([...ns, 'content', 'get', 'sha256:abc']);
  });

  it('content get returns the stored bytes exactly', () => {
    const data = randomBytes(70_000);
    // a gc root: an unreferenced blob may be collected any time after ctr's ingest lease ends
    berthd.berth(['-n', 'bytes', 'content', 'ingest', 'r', '--expected-digest', sha(data), '--label', 'containerd.io/gc.root=keep'], { input: data });
    const r = spawnSync('ctr', ['--address', berthd.address, '-n', 'bytes', 'content', 'get', sha(data)]);
    expect(r.status).toBe(0);
    expect(sha(r.stdout)).toBe(sha(data));
  });

  it('leases create, ls and rm', () => {
    same(['leases', 'create', '--id', 'l-1', '--expires', '0', 'purpose=test']);
    same(['leases', 'create', '--id', 'l-1']);
    same(['leases', 'ls']);
    same(['leases', 'ls', '-q']);
    same(['leases', 'rm', 'l-1']);
    same(['leases', 'ls']);
    same(['leases', 'rm', 'never-made']);
    const random = both(['leases', 'create']);
    expect(random.berth.code).toBe(0);
    expect(random.berth.stdout).toMatch(/^\d+-[A-Za-z0-9_=-]{4}\n/);
  });
});
