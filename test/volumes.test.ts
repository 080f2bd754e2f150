import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { Volumes } from '../api/services.ts';
import { type Berthd, berthBin, type Containerd, startBerthd, startContainerd } from './support/harness.ts';
import { describeAsRoot, installed, itAsRoot } from './support/root.ts';
import { buildRunImage, loadRunImage } from './support/run-image.ts';

const ns = 'vol-test';

describeAsRoot('berth volume', () => {
  let b: Berthd;
  let image: string;
  const berth = (args: string[], input?: string) => b.berth(['--namespace', ns, ...args], { input });
  const names = (args: string[]) => {
    const r = berth(['volume', 'ls', '-q', ...args]);
    expect(r.stderr).toBe('');
    return r.stdout.split('\n').filter(Boolean);
  };

  beforeAll(async () => {
    b = await startBerthd();
    image = await loadRunImage(b, { ns });
  }, 60_000);
  afterAll(async () => {
    await b?.cleanup();
  });
  // each test starts with no volume, whatever the one before left
  afterEach(() => {
    berth(['containers', 'rm', 'vol-user', 'anon-user']);
    berth(['volume', 'prune', '-a', '-f']);
  });

  itAsRoot(
    'creates named and unnamed volumes, lists, filters and inspects them; they outlive a restart of berthd',
    async () => {
      expect(berth(['volume', 'create', 'web-data', '--label', 'app=web', '--label', 'tier=front'])).toEqual({ code: 0, stdout: 'web-data\n', stderr: '' });
      // as Docker: creating it again gives the same volume
      expect(berth(['volume', 'create', 'web-data'])).toEqual({ code: 0, stdout: 'web-data\n', stderr: '' });
      const unnamed = berth(['volume', 'create']);
      expect(unnamed).toMatchObject({ code: 0, stderr: '' });
      expect(unnamed.stdout).toMatch(/^[0-9a-f]{64}\n$/);
      const random = unnamed.stdout.trim();
      expect(berth(['volume', 'create', 'pg'])).toMatchObject({ code: 0, stdout: 'pg\n' });

      const mountpoint = (name: string) => join(b.root, 'volumes', ns, name, '_data');
      const ls = berth(['volume', 'ls']);
      expect(ls.code).toBe(0);
      // sorted by name
      const all = [random, 'pg', 'web-data'].sort();
      expect(ls.stdout.split('\n').map((l) => l.split(/ {2,}/))).toEqual([
        ['DRIVER', 'VOLUME NAME', 'MOUNTPOINT'],
        ...all.map((name) => ['local', name, mountpoint(name)]),
        [''],
      ]);
      expect(names([])).toEqual(all);
      expect(names(['--filter', 'label=app=web'])).toEqual(['web-data']);
      expect(names(['--filter', 'name=-da', '--filter', 'label=tier'])).toEqual(['web-data']);
      expect(names(['-f', 'name=pg', '-f', 'name=web'])).toEqual(['pg', 'web-data']);
      expect(berth(['volume', 'ls', '--filter', 'size=1'])).toMatchObject({ code: 1, stderr: expect.stringContaining('invalid volume filter "size=1"') });

      const inspect = berth(['volume', 'inspect', 'web-data']);
      expect(inspect).toMatchObject({ code: 0, stderr: '' });
      const [doc] = JSON.parse(inspect.stdout);
      expect(doc).toEqual({
        CreatedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
        Driver: 'local',
        Labels: { app: 'web', tier: 'front' },
        Mountpoint: mountpoint('web-data'),
        Name: 'web-data',
        Options: {},
        Scope: 'local',
      });
      expect(Math.abs(Date.parse(doc.CreatedAt) - Date.now())).toBeLessThan(60_000);
      expect(statSync(doc.Mountpoint).isDirectory()).toBe(true);
      expect(JSON.parse(berth(['volume', 'ls', '--format', 'json', '--filter', 'name=web']).stdout)).toEqual([doc]);

      const missing = berth(['volume', 'inspect', 'pg', 'nope']);
      expect(missing.code).toBe(1);
      expect(JSON.parse(missing.stdout).map((v: { Name: string }) => v.Name)).toEqual(['pg']);
      expect(missing.stderr).toBe(`berth: volume "nope" in namespace "${ns}": not found\n`);
      expect(berth(['volume', 'create', '../etc'])).toMatchObject({ code: 1, stderr: expect.stringContaining('invalid volume name "../etc"') });
      expect(berth(['volume', 'create', '-d', 'nfs', 'x'])).toMatchObject({
        code: 1,
        stderr: 'berth: volume driver "nfs" is not supported: berthd has the local driver only\n',
      });
      expect(berth(['volume', 'create', '-o', 'type=tmpfs', 'x'])).toMatchObject({
        code: 1,
        stderr: expect.stringContaining('driver option "type=tmpfs" is not supported'),
      });
      expect(berth(['volume', 'create', '-d', 'local', 'pg'])).toMatchObject({ code: 0, stdout: 'pg\n' });

      // volumes are per namespace, and kept across a restart
      expect(b.berth(['volume', 'ls', '-q'])).toMatchObject({ code: 0, stdout: '' });
      await b.restart();
      expect(names([])).toEqual(all);
      expect(JSON.parse(berth(['volume', 'inspect', 'web-data']).stdout)).toEqual([doc]);
      expect(berth(['volume', 'rm', random, 'pg', 'web-data'])).toEqual({ code: 0, stdout: `${random}\npg\nweb-data\n`, stderr: '' });
    },
    60_000,
  );

  itAsRoot('does not remove a volume a container mounts, even with -f; dangling=false lists it; it goes once the container does', () => {
    expect(berth(['volume', 'create', 'used'])).toMatchObject({ code: 0 });
    expect(berth(['volume', 'create', 'spare'])).toMatchObject({ code: 0 });
    const data = JSON.parse(berth(['volume', 'inspect', 'used']).stdout)[0].Mountpoint as string;
    writeFileSync(join(data, 'file'), 'kept');
    const made = berth(['containers', 'create', '--mount', `type=bind,src=${data},dst=/data,options=rbind:rw`, image, 'vol-user']);
    expect(made).toMatchObject({ code: 0, stderr: '' });
    expect(names(['--filter', 'dangling=false'])).toEqual(['used']);
    expect(names(['--filter', 'dangling=true'])).toEqual(['spare']);

    for (const args of [['rm'], ['rm', '-f']]) {
      const r = berth(['volume', ...args, 'used']);
      expect(r).toEqual({ code: 1, stdout: '', stderr: 'berth: volume "used" is in use by container vol-user: failed precondition\n' });
    }
    expect(readdirSync(data)).toEqual(['file']);
    // -f: a missing volume is no error
    expect(berth(['volume', 'rm', '-f', 'never-made', 'spare'])).toEqual({ code: 0, stdout: 'never-made\nspare\n', stderr: '' });
    expect(berth(['volume', 'rm', 'never-made'])).toMatchObject({ code: 1, stderr: `berth: volume "never-made" in namespace "${ns}": not found\n` });

    expect(berth(['containers', 'rm', 'vol-user'])).toMatchObject({ code: 0 });
    expect(berth(['volume', 'rm', 'used'])).toEqual({ code: 0, stdout: 'used\n', stderr: '' });
    expect(existsSync(join(data, '..'))).toBe(false);
  });

  itAsRoot('prunes unused anonymous volumes (and named ones with -a) after asking, and says how much space it gave back', async () => {
    const volumes = b.client(ns).service(Volumes);
    const anon = (await volumes.Create({ name: '', labels: {}, anonymous: true })).volume!;
    const anonUsed = (await volumes.Create({ name: '', labels: {}, anonymous: true })).volume!;
    writeFileSync(join(anon.mountpoint, 'blob'), Buffer.alloc(2 * 1024 * 1024, 1));
    expect(berth(['volume', 'create', 'named'])).toMatchObject({ code: 0 });
    expect(berth(['containers', 'create', '--mount', `type=bind,src=${anonUsed.mountpoint},dst=/data,options=rbind:rw`, image, 'anon-user'])).toMatchObject({
      code: 0,
    });

    const warning = 'WARNING! This will remove anonymous local volumes not used by at least one container.\nAre you sure you want to continue? [y/N] ';
    expect(berth(['volume', 'prune'], 'n\n')).toEqual({ code: 0, stdout: `${warning}Nothing removed.\n`, stderr: '' });
    expect(berth(['volume', 'prune'], '')).toMatchObject({ code: 0, stdout: `${warning}Nothing removed.\n` });
    expect(names([]).sort()).toEqual([anon.name, anonUsed.name, 'named'].sort());

    expect(berth(['volume', 'prune'], 'y\n')).toEqual({
      code: 0,
      stdout: `${warning}Deleted Volumes:\n${anon.name}\n\nTotal reclaimed space: 2 MiB\n`,
      stderr: '',
    });
    expect(names([]).sort()).toEqual([anonUsed.name, 'named'].sort());

    expect(berth(['volume', 'prune', '-a', '-f'])).toEqual({ code: 0, stdout: 'Deleted Volumes:\nnamed\n\nTotal reclaimed space: 0 B\n', stderr: '' });
    expect(berth(['volume', 'prune', '-a', '-f'])).toEqual({ code: 0, stdout: 'Total reclaimed space: 0 B\n', stderr: '' });
    expect(names([])).toEqual([anonUsed.name]);
    expect(berth(['containers', 'rm', 'anon-user'])).toMatchObject({ code: 0 });
    expect(berth(['volume', 'prune', '-f'])).toMatchObject({ code: 0, stdout: `Deleted Volumes:\n${anonUsed.name}\n\nTotal reclaimed space: 0 B\n` });
  });

  itAsRoot('berth run -v NAME:/path makes the volume, fills it from the image once, keeps it; :ro is read-only', () => {
    const run = (...args: string[]) => berth(['run', '--rm', '--net', 'none', ...args]);
    // the image has /work/hello.txt: the empty new volume gets it (copy-up)
    expect(run('-v', 'site:/work', image, 'v1', 'sh', '-c', 'cat /work/hello.txt; echo written > /work/new')).toMatchObject({
      code: 0,
      stdout: 'hello from the run image\n',
    });
    expect(names([])).toEqual(['site']);
    const data = JSON.parse(berth(['volume', 'inspect', 'site']).stdout)[0].Mountpoint as string;
    expect(readdirSync(data).sort()).toEqual(['hello.txt', 'new']);
    // a volume holding data is not filled again, and outlives the --rm containers
    expect(run('-v', 'site:/work:ro', image, 'v2', 'sh', '-c', 'cat /work/new; echo x > /work/other 2>/dev/null || echo read-only')).toMatchObject({
      code: 0,
      stdout: 'written\nread-only\n',
    });
    // nocopy: a new volume stays empty
    expect(run('-v', 'bare:/work:nocopy', image, 'v3', 'ls', '-A', '/work')).toMatchObject({ code: 0, stdout: '' });
  });

  itAsRoot('anonymous volumes, for -v /path and for an image’s VOLUME, go with a --rm container; a named one stays', async () => {
    const withVolume = await loadRunImage(b, {
      ns,
      image: buildRunImage({ name: 'docker.io/library/busybox:with-volume', config: { Volumes: { '/work': {} } } }),
    });
    expect(berth(['run', '-d', '--net', 'none', withVolume, 'anon-user', 'sleep', '1000']).code).toBe(0);
    // the image's VOLUME got an anonymous volume, filled from the image
    const anonymous = names([]);
    expect(anonymous).toHaveLength(1);
    expect(anonymous[0]).toMatch(/^[0-9a-f]{64}$/);
    expect(berth(['exec', 'anon-user', 'cat', '/work/hello.txt']).stdout).toBe('hello from the run image\n');
    expect(berth(['rm', '-f', 'anon-user']).code).toBe(0);
    // a --rm container's anonymous volumes go once berthd removed it
    expect(berth(['run', '--rm', '--net', 'none', '-v', '/scratch', '-v', 'kept:/kept', image, 'anon-rm', 'true']).code).toBe(0);
    const left = async () => {
      for (let i = 0; i < 100; i++) {
        const n = names([]);
        if (!n.some((v) => /^[0-9a-f]{64}$/.test(v) && v !== anonymous[0])) return n;
        await new Promise((r) => setTimeout(r, 100));
      }
      return names([]);
    };
    expect((await left()).filter((v) => v !== anonymous[0])).toEqual(['kept']);
  });

  itAsRoot('--help of each command shows an example', () => {
    for (const cmd of ['create', 'ls', 'inspect', 'rm', 'prune']) {
      const r = berth(['volume', cmd, '--help']);
      expect(r.code, cmd).toBe(0);
      expect(r.stdout, cmd).toMatch(new RegExp(`\\nExamples?:\\n {2}berth volume ${cmd}\\b`));
    }
  });
});

describeAsRoot('berth volume against containerd', [installed('containerd')], () => {
  let ctd: Containerd;
  beforeAll(async () => {
    ctd = await startContainerd();
  }, 30_000);
  afterAll(async () => {
    await ctd?.cleanup();
  });

  itAsRoot('says in one line that it needs berthd', () => {
    const line = `berth: berth volume needs berthd: the daemon at ${ctd.address} has no berth.services.volumes.v1.Volumes service (containerd has no volumes)\n`;
    for (const args of [['ls'], ['create', 'x'], ['prune'], ['rm', 'x'], ['inspect', 'x']]) {
      const r = spawnSync(berthBin, ['--address', ctd.address, 'volume', ...args], { encoding: 'utf8' });
      expect({ code: r.status, stderr: r.stderr }, args.join(' ')).toEqual({ code: 1, stderr: line });
    }
  });
});
