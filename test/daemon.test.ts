import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeBlob } from '../transport/clients/content.ts';
import { collect } from '../transport/typed.ts';
import { grpcEvents, metadata } from './support/grpc-js.ts';
import { type Berthd, berthdBin, startBerthd } from './support/harness.ts';
import { errorCode, sha, sleep } from './support/util.ts';

const runBerthd = (args: string[]) => spawnSync(berthdBin, args, { encoding: 'utf8', timeout: 20_000 });

describe('berthd process', () => {
  let d: Berthd;
  beforeAll(async () => {
    d = await startBerthd();
  });
  afterAll(async () => {
    await d?.cleanup();
  });

  it('serves a socket that only root and its group can use, in directories others cannot list', () => {
    expect(statSync(d.address).mode & 0o777).toBe(0o660);
    expect(statSync(d.address).isSocket()).toBe(true);
    expect(statSync(d.root).mode & 0o777).toBe(0o700);
    expect(statSync(d.state).mode & 0o777).toBe(0o711);
  });

  it('prints its whole default config, which it starts with; [grpc] gid gives the socket to that group', async () => {
    const r = runBerthd(['config', 'default']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^\[grpc\]$/m);
    const dir = mkdtempSync(join(d.root, '..', 'cfg-'));
    const config = join(dir, 'config.toml');
    writeFileSync(config, r.stdout.replace(/^(\s*)gid = 0$/m, '$1gid = 4242'));
    const other = await startBerthd(['--config', config]);
    try {
      expect(statSync(other.address).gid).toBe(4242);
      expect(statSync(other.address).mode & 0o777).toBe(0o660);
    } finally {
      await other.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('shuts down cleanly on SIGTERM and finds every piece of data after a restart', async () => {
    const c = d.client('persist');
    await c.namespaces.Create({ namespace: { name: 'persist', labels: { k: 'v' } } });
    await c.leases.Create({ id: 'kept', labels: { a: 'b' } });
    const data = randomBytes(100_000);
    await writeBlob(d.client('persist', 'kept'), data, { ref: 'p', expected: sha(data), labels: { 'containerd.io/gc.root': 'yes' } });
    const uuid = (await c.introspection.Server({})).uuid;
    // a client subscribed to events does not hold the shutdown up
    const sub = grpcEvents(c).Subscribe({ filters: [] }, metadata(c));
    sub.on('data', () => undefined);
    const ended = new Promise<void>((resolve) => {
      sub.on('end', () => resolve());
      sub.on('error', () => resolve());
    });
    await sleep(50);
    const started = Date.now();
    expect(await d.stop()).toBe(0);
    expect(Date.now() - started).toBeLessThan(3000);
    await ended;
    expect(() => statSync(d.address)).toThrow(); // the socket is removed on the way out
    await d.restart();
    const c2 = d.client('persist');
    expect((await c2.namespaces.Get({ name: 'persist' })).namespace?.labels).toEqual({ k: 'v' });
    expect((await c2.leases.List({ filters: [] })).leases.map((l) => l.id)).toEqual(['kept']);
    const info = await c2.content.Info({ digest: sha(data) });
    expect(info.info?.size).toBe(data.length);
    expect((await c2.introspection.Server({})).uuid).toBe(uuid);
  });

  it('loses no committed blob and shows no half-written one when killed with SIGKILL mid-write', async () => {
    const c = d.client('crash');
    await c.leases.Create({ id: 'crash' });
    const w = d.client('crash', 'crash');
    const committed: string[] = [];
    const blobs = Array.from({ length: 40 }, (_, i) => randomBytes(50_000 + i * 997));
    const writes = blobs.map((b, i) =>
      sleep(i * 5)
        .then(() => writeBlob(w, b, { ref: `crash-${i}`, expected: sha(b) }))
        .then((r) => committed.push(r.digest))
        .catch(() => undefined),
    );
    await sleep(60);
    await d.kill();
    await Promise.all(writes);
    await d.restart();
    const c2 = d.client('crash');
    const listed = (await collect(c2.content.List({ filters: [] }))).flatMap((m) => m.info);
    for (const digest of committed) expect(listed.map((i) => i.digest)).toContain(digest);
    for (const info of listed) {
      const parts = await collect(c2.content.Read({ digest: info.digest, offset: 0, size: 0 }));
      const bytes = Buffer.concat(parts.map((p) => p.data));
      expect(bytes.length).toBe(info.size);
      expect(sha(bytes)).toBe(info.digest);
    }
  });

  it('removes a stale socket left by a daemon that died', async () => {
    await d.kill();
    expect(statSync(d.address).isSocket()).toBe(true);
    await d.restart();
    const c = d.client();
    expect(await errorCode(c.version.Version({}))).toBe('no error');
  });

  it('reads a TOML config file and reports a broken one clearly', async () => {
    const dir = mkdtempSync('/tmp/berth-test-');
    try {
      const bad = join(dir, 'bad.toml');
      writeFileSync(bad, 'root = [unterminated\n');
      const r = runBerthd(['--config', bad, '--root', join(dir, 'root'), '--state', join(dir, 'state'), '--address', join(dir, 'b.sock')]);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/^berthd: config .*bad\.toml/);
      const missing = runBerthd(['--config', join(dir, 'absent.toml')]);
      expect(missing.status).toBe(1);
      expect(missing.stderr).toMatch(/cannot read config/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('berthd with a config file', () => {
  let d: Berthd;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync('/tmp/berth-conf-');
    const config = join(dir, 'config.toml');
    writeFileSync(
      config,
      [
        'version = 2',
        'disabled_plugins = ["io.containerd.grpc.v1.leases"]',
        '[debug]',
        '  level = "debug"',
        '[plugins."io.containerd.gc.v1.scheduler"]',
        '  delay_ms = 50',
        '',
      ].join('\n'),
    );
    d = await startBerthd(['--config', config]);
  });
  afterAll(async () => {
    await d?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('skips disabled plugins and lists them with their state', async () => {
    const c = d.client();
    const res = await c.introspection.Plugins({
      filters: ['type==io.containerd.grpc.v1'],
    });
    const leases = res.plugins.find((p) => p.id === 'leases');
    expect(leases?.init_err?.message).toMatch(/skip plugin/);
    expect(res.plugins.find((p) => p.id === 'content')?.init_err).toBeNull();
    expect(await errorCode(c.leases.List({ filters: [] }))).toBe('Unimplemented');
    expect(res.plugins.every((p) => p.type === 'io.containerd.grpc.v1')).toBe(true);
  });
});
