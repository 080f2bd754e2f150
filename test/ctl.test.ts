import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { age, formatLabels, formatSize, humanDuration, table } from '../ctl/output.ts';
import { parseDuration, parseLabels } from '../ctl/parse.ts';
import { type Berthd, berthBin, startBerthd } from './support/harness.ts';

const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const digestLine = /^sha256:[a-f0-9]{64}$/;
// Blobs nothing refers to go at the next garbage collection (which runs shortly after any
// delete), as in containerd; the tests' blobs are GC roots so that they stay while used.
const keep = ['--label', 'containerd.io/gc.root=ctl-test'];

/** Runs bin/berth with exactly these arguments and environment, keeping stdout as bytes. */
function raw(args: string[], opts: { input?: Buffer | string; env?: Record<string, string | undefined> } = {}) {
  const env = { ...process.env, ...opts.env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
  const r = spawnSync(berthBin, args, { input: opts.input ?? '', env, timeout: 60_000, maxBuffer: 1 << 30 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.toString('utf8') };
}

/** The table printed on stdout as rows of cells (columns are separated by 2+ spaces). */
const rows = (stdout: string) =>
  stdout
    .trimEnd()
    .split('\n')
    .map((l) => l.split(/\s{2,}/));

describe('berth output helpers', () => {
  it('prints sizes in binary units and ages in words', () => {
    expect(formatSize(0)).toBe('0 B');
    expect(formatSize(1023)).toBe('1023 B');
    expect(formatSize(1536)).toBe('1.5 KiB');
    expect(formatSize(3 * (1 << 20) + 123)).toBe('3 MiB');
    expect(formatSize(1024 * 1024 - 1)).toBe('1 MiB');
    expect(formatSize(5 * 2 ** 30)).toBe('5 GiB');
    expect(formatSize(150.4 * 1024)).toBe('150 KiB');
    expect(formatSize(12.34 * 2 ** 20)).toBe('12.3 MiB');
    expect(humanDuration(200)).toBe('Less than a second');
    expect(humanDuration(45_000)).toBe('45 seconds');
    expect(humanDuration(3 * 60_000 + 5000)).toBe('3 minutes');
    expect(humanDuration(2 * 3_600_000)).toBe('2 hours');
    expect(humanDuration(3 * 86_400_000)).toBe('3 days');
    expect(age(1_000_000 - 180_000, 1_000_000)).toBe('3 minutes ago');
    expect(age(1_000_000 + 7_200_000, 1_000_000)).toBe('in 2 hours');
    expect(age(undefined)).toBe('-');
  });

  it('aligns table columns without trailing blanks', () => {
    const t = table(
      ['A', 'LONGER'],
      [
        ['xxxx', 'y'],
        ['z', 'w'],
      ],
    );
    expect(t).toBe('A      LONGER\nxxxx   y\nz      w\n');
  });

  it('parses Go durations and key=value labels', () => {
    expect(parseDuration('10s')).toBe(10_000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('0')).toBe(0);
    expect(() => parseDuration('10')).toThrow(/invalid duration/);
    expect(() => parseDuration('10x')).toThrow(/invalid duration/);
    expect(parseLabels(['a=b', 'c=', 'flag', 'k=v=w'])).toEqual({ a: 'b', c: '', flag: 'true', k: 'v=w' });
    expect(() => parseLabels(['=x'])).toThrow(/key is empty/);
    expect(formatLabels({ b: '2', a: '1' })).toBe('a=1,b=2');
    expect(formatLabels({})).toBe('-');
  });
});

describe('berth CLI against berthd', () => {
  let d: Berthd;
  const berth = (args: string[], opts: { input?: Buffer | string; env?: Record<string, string | undefined> } = {}) =>
    raw(['--address', d.address, ...args], opts);
  const text = (args: string[], opts: { input?: Buffer | string; env?: Record<string, string | undefined> } = {}) => {
    const r = berth(args, opts);
    return { ...r, stdout: r.stdout.toString('utf8') };
  };

  beforeAll(async () => {
    d = await startBerthd();
  });
  afterAll(async () => {
    await d?.cleanup();
  });

  it('prints client and server versions and the server UUID', async () => {
    const c = d.client();
    const { uuid } = await c.introspection.Server({});
    const r = text(['version']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Client:\n {2}Version: +\d+\.\d+\.\d+/);
    expect(r.stdout).toMatch(/\nServer:\n {2}Version: +\d+\.\d+\.\d+/);
    expect(r.stdout).toContain(`UUID:     ${uuid}\n`);
    const j = JSON.parse(text(['version', '--format', 'json']).stdout);
    expect(j.server.uuid).toBe(uuid);
    expect(j.client.version).toBe(j.server.version);
  });

  it('lists plugins with their status, filtered, as a table, JSON or ids', () => {
    const r = text(['plugins', 'ls']);
    expect(r.code).toBe(0);
    const t = rows(r.stdout);
    expect(t[0]).toEqual(['TYPE', 'ID', 'PLATFORMS', 'STATUS']);
    expect(t).toContainEqual(['io.containerd.grpc.v1', 'content', '-', 'ok']);
    const grpcOnly = rows(text(['plugins', 'ls', 'type==io.containerd.grpc.v1']).stdout).slice(1);
    expect(grpcOnly.length).toBeGreaterThan(3);
    expect(grpcOnly.every((row) => row[0] === 'io.containerd.grpc.v1')).toBe(true);
    const j = JSON.parse(text(['plugins', 'ls', '--format', 'json']).stdout) as Array<{ type: string; id: string; status: string }>;
    expect(j).toContainEqual(expect.objectContaining({ type: 'io.containerd.grpc.v1', id: 'version', status: 'ok' }));
    expect(text(['plugins', 'ls', '-q', 'id==introspection']).stdout).toBe('introspection\n');
    expect(text(['plugins', 'ls', '--detailed', 'id==level']).stdout).toMatch(/^Type: +io\.containerd\.metadata\.v1\nID: +level\n/);
  });

  it('ingests a blob from stdin and reads it back byte for byte, with berth and with ctr', () => {
    const data = Buffer.concat([randomBytes(3 * (1 << 20) + 4321), Buffer.from([0, 0xff, 0x0a, 0x0d])]);
    const r = text(['content', 'ingest', 'ctl-big', ...keep], { input: data });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${sha(data)}\n`);

    const got = berth(['content', 'get', sha(data)]);
    expect(got.code).toBe(0);
    expect(got.stdout.length).toBe(data.length);
    expect(got.stdout.equals(data)).toBe(true);

    const viaCtr = spawnSync('ctr', ['--address', d.address, 'content', 'get', sha(data)], { timeout: 60_000, maxBuffer: 1 << 30 });
    expect(viaCtr.status).toBe(0);
    expect(viaCtr.stdout.equals(data)).toBe(true);

    // the listing shows it with its size; JSON carries the exact size; -q prints digests only
    const line = rows(text(['content', 'ls']).stdout).find((row) => row[0] === sha(data));
    expect(line).toEqual([sha(data), '3 MiB', expect.stringMatching(/ago$/), 'containerd.io/gc.root=ctl-test']);
    const json = JSON.parse(text(['content', 'ls', '--format', 'json']).stdout) as Array<{ digest: string; size: number; created_at: string }>;
    const entry = json.find((e) => e.digest === sha(data));
    expect(entry?.size).toBe(data.length);
    expect(Math.abs(Date.parse(entry!.created_at) - Date.now())).toBeLessThan(60_000);
    const quiet = text(['content', 'ls', '-q']).stdout.trimEnd().split('\n');
    expect(quiet).toContain(sha(data));
    expect(quiet.every((l) => digestLine.test(l))).toBe(true);
  });

  it('labels blobs so that ctr sees the labels, and filters on them', () => {
    const data = Buffer.from(`labelled ${Date.now()}`);
    expect(text(['content', 'ingest', 'ctl-labelled', '--label', 'origin=berth', ...keep], { input: data }).code).toBe(0);
    const r = text(['content', 'label', sha(data), 'team=ops', 'tier=gold']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('containerd.io/gc.root=ctl-test,origin=berth,team=ops,tier=gold\n');
    expect(text(['content', 'label', sha(data), 'tier=']).stdout).toBe('containerd.io/gc.root=ctl-test,origin=berth,team=ops\n');

    const ctr = d.ctr(['content', 'ls']);
    expect(ctr.code).toBe(0);
    const line = ctr.stdout.split('\n').find((l) => l.startsWith(sha(data)));
    expect(line).toBeDefined();
    const labels = line!.trim().split(/\s+/).pop()!.split(',').sort();
    expect(labels).toEqual(['containerd.io/gc.root=ctl-test', 'origin=berth', 'team=ops']);

    expect(text(['content', 'ls', '-q', 'labels.team==ops']).stdout).toBe(`${sha(data)}\n`);
  });

  it('refuses a blob whose digest or size is not the expected one, and keeps nothing', () => {
    const data = Buffer.from('these are not the bytes you expected');
    const wrong = sha('something else');
    const r = text(['content', 'ingest', 'ctl-bad-digest', '--expected-digest', wrong], { input: data });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^berth: .*digest/);
    expect(r.stderr).toContain(wrong);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).not.toMatch(/\n\s+at /);

    const s = text(['content', 'ingest', 'ctl-bad-size', '--expected-size', String(data.length + 1)], { input: data });
    expect(s.code).toBe(1);
    expect(s.stderr).toMatch(/^berth: .*size/);
    expect(s.stderr).toContain(String(data.length + 1));

    expect(text(['content', 'ls', '-q']).stdout).not.toContain(sha(data));
    expect(text(['content', 'active', '-q']).stdout).not.toMatch(/ctl-bad/);

    const bad = text(['content', 'ingest', 'ctl-bad-arg', '--expected-digest', 'md5:abc'], { input: data });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^berth: digest "md5:abc"/);
  });

  it('treats a blob the namespace already has as done', () => {
    const data = Buffer.from(`twice ${Date.now()}`);
    expect(text(['content', 'ingest', 'ctl-twice-1', ...keep], { input: data }).stdout).toBe(`${sha(data)}\n`);
    const again = text(['content', 'ingest', 'ctl-twice-2', '--expected-digest', sha(data)], { input: data });
    expect(again).toMatchObject({ code: 0, stdout: '', stderr: '' });
    const again2 = text(['content', 'ingest', 'ctl-twice-3'], { input: data });
    expect(again2).toMatchObject({ code: 0, stdout: '', stderr: '' });
  });

  it('lists an unfinished ingest as active', async () => {
    const { WriteSession } = await import('../transport/clients/content.ts');
    const s = new WriteSession(d.client());
    await s.send({ action: 'WRITE', ref: 'ctl-partial', offset: 0, data: Buffer.alloc(2048, 1) });
    s.end();
    const r = text(['content', 'active']);
    expect(r.code).toBe(0);
    expect(rows(r.stdout)[0]).toEqual(['REF', 'SIZE', 'AGE']);
    expect(rows(r.stdout)).toContainEqual(['ctl-partial', '2 KiB', expect.stringMatching(/ago$/)]);
    const j = JSON.parse(text(['content', 'active', '--format', 'json', 'ref==ctl-partial']).stdout);
    expect(j).toEqual([expect.objectContaining({ ref: 'ctl-partial', offset: 2048 })]);
  });

  it('removes blobs, and says so clearly when one is not there', () => {
    const data = Buffer.from(`to remove ${Date.now()}`);
    expect(text(['content', 'ingest', 'ctl-rm', ...keep], { input: data }).code).toBe(0);
    const r = text(['content', 'rm', sha(data)]);
    expect(r).toMatchObject({ code: 0, stdout: `${sha(data)}\n` });
    expect(text(['content', 'ls', '-q']).stdout).not.toContain(sha(data));

    const again = text(['content', 'rm', sha(data)]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^berth: .*not found\n$/);
    expect(again.stderr).toContain(sha(data));

    const get = berth(['content', 'get', sha(data)]);
    expect(get.code).toBe(1);
    expect(get.stdout.length).toBe(0);
    expect(get.stderr).toMatch(/not found/);
  });

  it('creates, labels, lists and removes namespaces', () => {
    expect(text(['namespaces', 'create', 'ctl-ns', 'owner=ops'])).toMatchObject({ code: 0, stderr: '' });
    const dup = text(['ns', 'create', 'ctl-ns']);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toMatch(/^berth: .*ctl-ns.*already exists/);

    expect(text(['ns', 'label', 'ctl-ns', 'tier=gold']).stdout).toBe('owner=ops,tier=gold\n');
    expect(text(['ns', 'label', 'ctl-ns', 'owner=']).stdout).toBe('tier=gold\n');

    const ls = rows(text(['namespaces', 'ls']).stdout);
    expect(ls[0]).toEqual(['NAME', 'LABELS']);
    expect(ls).toContainEqual(['ctl-ns', 'tier=gold']);
    expect(text(['ns', 'list', '-q']).stdout.split('\n')).toContain('ctl-ns');
    const json = JSON.parse(text(['ns', 'ls', '--format', 'json']).stdout);
    expect(json).toContainEqual({ name: 'ctl-ns', labels: { tier: 'gold' } });

    // a namespace that holds something cannot go
    expect(text(['-n', 'ctl-ns', 'content', 'ingest', 'x', ...keep], { input: 'keep me' }).code).toBe(0);
    const busy = text(['ns', 'rm', 'ctl-ns']);
    expect(busy.code).toBe(1);
    expect(busy.stdout).toBe('');
    expect(busy.stderr).toMatch(/^berth: namespace "ctl-ns" must be empty, but it still has blobs/);
    expect(text(['ns', 'ls', '-q']).stdout.split('\n')).toContain('ctl-ns');

    expect(text(['-n', 'ctl-ns', 'content', 'rm', sha('keep me')]).code).toBe(0);
    expect(text(['ns', 'remove', 'ctl-ns'])).toMatchObject({ code: 0, stdout: 'ctl-ns\n' });
    expect(text(['ns', 'ls', '-q']).stdout.split('\n')).not.toContain('ctl-ns');

    const missing = text(['ns', 'rm', 'ctl-ns']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/not found/);
  });

  it('rejects an invalid namespace name with a clear message', () => {
    const r = text(['-n', '../x', 'content', 'ls']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^berth: identifier "\.\.\/x" .*invalid argument\n$/);
    const create = text(['ns', 'create', 'bad/name']);
    expect(create.code).toBe(1);
    expect(create.stderr).toMatch(/^berth: .*"bad\/name".*invalid argument/);
  });

  it("creates, lists and removes leases, with containerd's expiry label", () => {
    const before = Date.now();
    expect(text(['leases', 'create', '--id', 'ctl-lease', 'purpose=test'])).toMatchObject({ code: 0, stdout: 'ctl-lease\n' });
    const json = JSON.parse(text(['leases', 'ls', '--format', 'json']).stdout) as Array<{ id: string; labels: Record<string, string>; expires_at: string }>;
    const lease = json.find((l) => l.id === 'ctl-lease');
    expect(lease?.labels.purpose).toBe('test');
    const expiry = Date.parse(lease!.labels['containerd.io/gc.expire']!);
    expect(lease!.labels['containerd.io/gc.expire']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(expiry).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 24 * 3_600_000);
    expect(expiry).toBeLessThanOrEqual(Date.now() + 24 * 3_600_000);

    expect(text(['leases', 'create', '--id', 'ctl-forever', '--expires', '0']).code).toBe(0);
    const random = text(['leases', 'create', '-x', '1h']);
    expect(random.code).toBe(0);
    const id = random.stdout.trim();
    expect(id.length).toBeGreaterThan(0);

    const table = rows(text(['leases', 'ls']).stdout);
    expect(table[0]).toEqual(['ID', 'CREATED', 'EXPIRES', 'LABELS']);
    expect(table).toContainEqual(['ctl-forever', expect.stringMatching(/ago$/), 'never', '-']);
    expect(table).toContainEqual([
      id,
      expect.stringMatching(/ago$/),
      expect.stringMatching(/^in (59 minutes|about an hour)$/),
      expect.stringMatching(/^containerd\.io\/gc\.expire=/),
    ]);
    expect(text(['leases', 'ls', '-q']).stdout.split('\n').sort()).toEqual(['', 'ctl-forever', 'ctl-lease', id].sort());
    expect(text(['leases', 'ls', '-q', 'id==ctl-lease']).stdout).toBe('ctl-lease\n');

    expect(text(['leases', 'rm', 'ctl-lease', 'ctl-forever', '--sync'])).toMatchObject({ code: 0, stdout: 'ctl-lease\nctl-forever\n' });
    expect(text(['leases', 'ls', '-q']).stdout).toBe(`${id}\n`);
    const missing = text(['leases', 'rm', 'ctl-lease', id]);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toBe(`${id}\n`);
    expect(missing.stderr).toMatch(/^berth: lease "ctl-lease".*not found\n$/);
  });

  it('streams events as they happen until interrupted', async () => {
    for (const format of ['table', 'json'] as const) {
      const child = spawn(berthBin, ['--address', d.address, 'events', '--format', format, 'topic~="^/namespaces/"'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (b) => (stdout += b));
      child.stderr.on('data', (b) => (stderr += b));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      try {
        // the subscription is live some time after the process starts: create until one is seen
        const created: string[] = [];
        for (let i = 0; i < 100 && !stdout.includes('/namespaces/create'); i++) {
          const name = `ctl-ev-${format}-${i}`;
          expect(text(['ns', 'create', name]).code).toBe(0);
          created.push(name);
          await new Promise((r) => setTimeout(r, 100));
        }
        await new Promise((r) => setTimeout(r, 200));
        const lines = stdout.trimEnd().split('\n');
        expect(lines.length).toBeGreaterThan(0);
        const last = created.at(-1)!;
        if (format === 'table') {
          const line = lines.find((l) => l.includes(` ${last} `));
          const m = new RegExp(`^(\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{9}Z) ${last} /namespaces/create (\\{.*\\})$`).exec(line ?? '');
          expect(m, line).not.toBeNull();
          expect(Math.abs(Date.parse(m![1]!) - Date.now())).toBeLessThan(60_000);
          expect(JSON.parse(m![2]!)).toEqual({ name: last, labels: {} });
        } else {
          const events = lines.map(
            (l) => JSON.parse(l) as { seq: number; timestamp: string; namespace: string; topic: string; type: string; event: { name: string } },
          );
          expect(events).toContainEqual({
            seq: expect.any(Number),
            timestamp: expect.stringMatching(/Z$/),
            namespace: last,
            topic: '/namespaces/create',
            type: 'containerd.events.NamespaceCreate',
            event: { name: last, labels: {} },
          });
        }
        child.kill('SIGINT');
        const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('still running'), 5000))]);
        expect(code).toBe(0);
        expect(stderr).toBe('');
      } finally {
        child.kill('SIGKILL');
      }
    }
  });

  it('reads the address and namespace from BERTH_ADDRESS and BERTH_NAMESPACE', async () => {
    const env = { BERTH_ADDRESS: d.address, BERTH_NAMESPACE: 'ctl-env' };
    const v = raw(['version'], { env });
    expect(v.code).toBe(0);
    expect(v.stdout.toString()).toContain('Server:');

    const data = Buffer.from(`env ${Date.now()}`);
    expect(raw(['content', 'ingest', 'env-ref', ...keep], { env, input: data }).code).toBe(0);
    const c = d.client('ctl-env');
    const info = await c.content.Info({ digest: sha(data) });
    expect(info.info?.size).toBe(data.length);
    expect(text(['content', 'ls', '-q']).stdout).not.toContain(sha(data)); // not in "default"
    // a flag wins over the environment
    expect(raw(['-n', 'default', 'content', 'ls', '-q'], { env }).stdout.toString()).not.toContain(sha(data));

    const nowhere = raw(['version'], { env: { BERTH_ADDRESS: `${d.dir}/no-such.sock` } });
    expect(nowhere.code).toBe(1);
    expect(nowhere.stderr).toMatch(/^berth: cannot connect to berthd at .*no-such\.sock/);
  });

  it('keeps errors to one line unless --debug, and exits 2 on usage errors', () => {
    const missing = sha('never stored');
    const r = text(['content', 'get', missing]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`berth: content digest ${missing}: not found\n`);
    const dbg = text(['--debug', 'content', 'get', missing]);
    expect(dbg.code).toBe(1);
    expect(dbg.stderr).toMatch(/^berth: content digest .*: not found\n/);
    expect(dbg.stderr).toMatch(/\n\s+at /);
    expect(dbg.stderr).toContain('code: NotFound');

    expect(text(['no-such-command']).code).toBe(2);
    expect(text(['content', 'ls', '--format', 'yaml']).code).toBe(2);
    const t = text(['--timeout', 'soon', 'version']);
    expect(t.code).toBe(2);
    expect(t.stderr).toMatch(/^berth: .*invalid duration "soon"/);
    expect(text(['--help']).code).toBe(0);
  });
});
