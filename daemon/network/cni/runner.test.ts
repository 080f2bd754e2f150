// The CNI runner against Debian's real plugins (bridge, host-local, portmap, firewall, tuning) on a
// netns and bridge of the test's own, and against small fake plugins (shell scripts) for what the
// real ones do not do on demand: errors, hangs, garbage. Every bridge, veth, netns, rule and lease
// the tests make is removed in afterAll, also when a test fails.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BerthError } from '../../../core/errors.ts';
import { createNetns, removeNamespace } from '../../../native/namespaces.ts';
import { describeAsRoot, installed, itAsRoot } from '../../../test/support/root.ts';
import { CniRunner } from './runner.ts';
import type { CniAttachment, NetworkConfigList } from './types.ts';

const base = mkdtempSync('/tmp/berth-cni-');
const fakeDir = join(base, 'bin');
mkdirSync(fakeDir);
const realDir = '/usr/lib/cni';
const cleanups: Array<() => unknown> = [];

afterAll(async () => {
  for (const c of cleanups.reverse()) {
    try {
      await c();
    } catch {
      // keep cleaning
    }
  }
  rmSync(base, { recursive: true, force: true });
});

/**
 * Makes sure an attachment of a list is DELeted after the suite, whatever the test did: the real
 * plugins of the list release the lease, veth and rules (a no-op when the test did it already).
 */
function undoLater(list: NetworkConfigList, at: CniAttachment): void {
  const real = list.plugins.filter((p) => existsSync(join(realDir, p.type)));
  cleanups.push(() => new CniRunner({ binDirs: [realDir] }).del({ ...list, plugins: real }, at));
}

const rand = (n: number) => Math.floor(Math.random() * n);

/** A fake plugin: a shell script in the fake bin dir. */
function fake(name: string, body: string): string {
  const path = join(fakeDir, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return name;
}

/** A new netns of the test's own, removed after the suite. */
function netns(): string {
  const p = join(base, `ns-${rand(1e9)}`);
  createNetns(p);
  cleanups.push(() => removeNamespace(p));
  return p;
}

const sh = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: 'utf8' });
const linkExists = (name: string, ns?: string) =>
  (ns ? sh('nsenter', [`--net=${ns}`, 'ip', 'link', 'show', 'dev', name]) : sh('ip', ['link', 'show', 'dev', name])).status === 0;
const nsLinks = (ns: string) =>
  sh('nsenter', [`--net=${ns}`, 'ip', '-br', 'link'])
    .stdout.trim()
    .split('\n')
    .map((l) => l.split(/[\s@]+/)[0]);

async function expectRejects(p: Promise<unknown>, code: string, ...words: string[]): Promise<BerthError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BerthError);
  expect((err as BerthError).code).toBe(code);
  for (const w of words) expect((err as BerthError).message).toContain(w);
  return err as BerthError;
}

/** A bridge + host-local list on a bridge and subnet of the test's own (removed after the suite). */
function bridgeList(extra: NetworkConfigList['plugins'] = []) {
  // a bridge name and subnet nobody uses now (tests of other files make their own in parallel)
  let id: string;
  let bridge: string;
  let net: string;
  do {
    id = `${rand(1e5)}`.padStart(5, '0');
    bridge = `btc${id}`;
    net = `10.${200 + rand(55)}.${rand(256)}`;
  } while (linkExists(bridge) || sh('ip', ['-4', 'route', 'show', 'to', 'match', `${net}.1`]).stdout.includes(`${net}.`));
  const dataDir = join(base, `ipam-${id}`);
  const list: NetworkConfigList = {
    cniVersion: '1.0.0',
    name: `berth-test-${id}`,
    plugins: [
      {
        type: 'bridge',
        bridge,
        isGateway: true,
        ipMasq: true,
        ipam: { type: 'host-local', ranges: [[{ subnet: `${net}.0/24` }]], routes: [{ dst: '0.0.0.0/0' }], dataDir },
      },
      ...extra,
    ],
  };
  cleanups.push(() => sh('ip', ['link', 'del', bridge]));
  return { list, bridge, net, leases: join(dataDir, list.name) };
}

/** Lease files of host-local (one per address) in a network's data dir. */
const leaseFiles = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)) : []);

// the chains portmap and firewall share between all containers and leave behind by design
const shared = /^(CNI-HOSTPORT-(DNAT|MASQ|SETMARK)|CNI-FORWARD|CNI-ADMIN)$/;
const iptablesLines = () =>
  new Set(
    sh('iptables-save', [])
      .stdout.split('\n')
      .filter((l) => l !== '' && !l.startsWith('#')),
  );

/**
 * The rules and chains of one container that are still there: lines that were not there before
 * its ADD and mention its address, its id, or a chain its ADD made. Other tests may change
 * iptables meanwhile, so only what can be told apart as this container's counts.
 */
function leftoverRules(before: Set<string>, during: Set<string>, after: Set<string>, markers: string[]): string[] {
  const added = [...during].filter((l) => !before.has(l));
  const ours = added.filter((l) => markers.some((m) => l.includes(m)));
  const chains = new Set<string>();
  for (const l of ours) for (const m of l.matchAll(/(?:-A|-j) (CNI-[\w-]+)/g)) if (!shared.test(m[1]!)) chains.add(m[1]!);
  const all = [...markers, ...chains];
  return [...after].filter((l) => !before.has(l) && all.some((m) => l.includes(m)));
}

describeAsRoot('CniRunner with the real plugins', [installed('nsenter'), installed('iptables-save'), installed('busybox'), installed('curl')], () => {
  const runner = new CniRunner({ binDirs: [realDir] });

  itAsRoot(
    'ADD connects a netns to a bridge with an address and a published port, CHECK passes, DEL removes it all',
    async () => {
      const { list, bridge, net, leases } = bridgeList([
        { type: 'portmap', capabilities: { portMappings: true } },
        { type: 'firewall', backend: 'iptables' },
        { type: 'tuning' },
      ]);
      const ns = netns();
      const hostPort = 20000 + rand(20000);
      const at: CniAttachment = {
        containerId: `berth-test-${rand(1e9)}`,
        netns: ns,
        ifName: 'eth0',
        capabilityArgs: { portMappings: [{ hostPort, containerPort: 80, protocol: 'tcp' }] },
      };
      undoLater(list, at);
      const before = iptablesLines();
      let httpd: ChildProcess | undefined;
      try {
        const result = await runner.add(list, at);
        expect(result.cniVersion).toBe('1.0.0');
        const ip = result.ips?.[0]?.address ?? '';
        expect(ip).toMatch(new RegExp(`^${net.replaceAll('.', '\\.')}\\.\\d+/24$`));
        const addr = ip.split('/')[0]!;
        expect(sh('nsenter', [`--net=${ns}`, 'ip', '-br', 'addr', 'show', 'dev', 'eth0']).stdout).toContain(ip);
        const hostVeth = result.interfaces?.find((i) => i.sandbox === undefined && i.name !== bridge)?.name ?? '';
        expect(linkExists(hostVeth)).toBe(true);
        expect(leaseFiles(leases)).toEqual([addr]);

        const www = join(base, `www-${rand(1e9)}`);
        mkdirSync(www);
        writeFileSync(join(www, 'index.html'), 'hello from the netns\n');
        httpd = spawn('nsenter', [`--net=${ns}`, 'busybox', 'httpd', '-f', '-p', '80', '-h', www], { stdio: 'ignore' });
        let body = '';
        for (let i = 0; i < 50 && body === ''; i++) {
          await new Promise((r) => setTimeout(r, 100));
          body = sh('curl', ['-s', '--max-time', '2', `http://127.0.0.1:${hostPort}/`]).stdout;
        }
        expect(body).toBe('hello from the netns\n');

        // portmap 1.1.1's CHECK fails for a container without IPv6 (containernetworking/plugins#819):
        // the other plugins are checked
        await runner.check({ ...list, plugins: list.plugins.filter((p) => p.type !== 'portmap') }, at, result);
        const during = iptablesLines();

        await runner.del(list, at, result);
        const after = iptablesLines();
        expect(linkExists(hostVeth)).toBe(false);
        expect(nsLinks(ns)).toEqual(['lo']);
        expect(leaseFiles(leases)).toEqual([]);
        const markers = [`${addr}/`, `${addr}:`, at.containerId];
        expect([...during].filter((l) => !before.has(l) && markers.some((m) => l.includes(m))).length).toBeGreaterThan(0);
        expect(leftoverRules(before, during, after, markers)).toEqual([]);

        // a second DEL finds nothing to do, and so does one whose netns is gone
        await runner.del(list, at, result);
        removeNamespace(ns);
        await runner.del(list, at, result);
      } finally {
        httpd?.kill('SIGKILL');
      }
    },
    60_000,
  );

  itAsRoot(
    'containers attached and detached in parallel get their own addresses and leave nothing behind',
    async () => {
      const { list, bridge, leases } = bridgeList([
        { type: 'portmap', capabilities: { portMappings: true } },
        { type: 'firewall', backend: 'iptables' },
      ]);
      const port = 20000 + rand(20000);
      const ats: CniAttachment[] = Array.from({ length: 6 }, (_, i) => ({
        containerId: `berth-par-${i}-${rand(1e6)}`,
        netns: netns(),
        ifName: 'eth0',
        capabilityArgs: { portMappings: [{ hostPort: port + i, containerPort: 80, protocol: 'udp' as const }] },
      }));
      for (const at of ats) undoLater(list, at);
      const before = iptablesLines();
      const results = await Promise.all(ats.map((at) => runner.add(list, at)));
      const addrs = results.map((r) => r.ips?.[0]?.address.split('/')[0] ?? '');
      expect(new Set(addrs).size).toBe(ats.length);
      expect(leaseFiles(leases).sort()).toEqual([...addrs].sort());
      const during = iptablesLines();
      await Promise.all(ats.map((at, i) => runner.del(list, at, results[i])));
      expect(leaseFiles(leases)).toEqual([]);
      expect(sh('ip', ['-br', 'link', 'show', 'master', bridge]).stdout.trim()).toBe('');
      const markers = [...addrs.flatMap((a) => [`${a}/`, `${a}:`]), ...ats.map((at) => at.containerId)];
      expect(leftoverRules(before, during, iptablesLines(), markers)).toEqual([]);
    },
    60_000,
  );

  itAsRoot(
    'a missing plugin in a list: FailedPrecondition before any plugin runs',
    async () => {
      const { list, bridge, leases } = bridgeList([{ type: 'nosuchplugin' }, { type: 'tuning' }]);
      const at = { containerId: 'berth-missing', netns: netns(), ifName: 'eth0' };
      const ns = at.netns;
      undoLater(list, at);
      await expectRejects(runner.add(list, at), 'FailedPrecondition', 'nosuchplugin', realDir);
      expect(nsLinks(ns)).toEqual(['lo']);
      expect(leaseFiles(leases)).toEqual([]);
      expect(sh('ip', ['-br', 'link', 'show', 'master', bridge]).stdout.trim()).toBe('');
    },
    30_000,
  );

  itAsRoot(
    'a failing plugin: its CNI error reaches the caller and the plugins before it are undone',
    async () => {
      const failer = fake('failer', 'cat >/dev/null; echo \'{"cniVersion":"1.0.0","code":111,"msg":"no luck today","details":"the details"}\'; exit 1');
      const { list, bridge, leases } = bridgeList([{ type: failer }]);
      const at = { containerId: 'berth-fail', netns: netns(), ifName: 'eth0' };
      const ns = at.netns;
      undoLater(list, at);
      const r = new CniRunner({ binDirs: [fakeDir, realDir] });
      const err = await expectRejects(r.add(list, at), 'Unknown', 'failer', 'ADD', list.name, 'no luck today', 'the details');
      expect(err.message).toContain('111');
      expect(nsLinks(ns)).toEqual(['lo']);
      expect(leaseFiles(leases)).toEqual([]);
      // the bridge itself stays (it is the network's, not the container's); no veth is left on it
      expect(sh('ip', ['-br', 'link', 'show', 'master', bridge]).stdout.trim()).toBe('');
    },
    30_000,
  );
});

describe('CniRunner with fake plugins', () => {
  const at: CniAttachment = { containerId: 'c1', netns: '/proc/self/ns/net', ifName: 'eth0' };
  const list = (...types: string[]): NetworkConfigList => ({ cniVersion: '1.0.0', name: 'fakenet', plugins: types.map((type) => ({ type })) });
  const ok = (cniVersion = '1.0.0') => `{"cniVersion":"${cniVersion}","ips":[{"address":"10.9.9.9/24"}]}`;

  it('passes the spec environment and a plugin configuration derived from the list', async () => {
    const log = join(base, 'recorder.log');
    const recorder = fake(
      'recorder',
      `conf=$(cat); printf '%s\\n' "$CNI_COMMAND|$CNI_CONTAINERID|$CNI_NETNS|$CNI_IFNAME|$CNI_ARGS|$CNI_PATH|$conf" >> ${log}; [ "$CNI_COMMAND" = ADD ] && echo '${ok()}'; exit 0`,
    );
    const r = new CniRunner({ binDirs: [fakeDir, '/nonexistent'] });
    const l: NetworkConfigList = {
      cniVersion: '1.0.0',
      name: 'fakenet',
      plugins: [
        { type: recorder, cniVersion: '0.1.0', name: 'other', capabilities: { portMappings: true }, runtimeConfig: { stale: 1 }, custom: { a: 1 } },
        { type: recorder, capabilities: { ips: true } },
      ],
    };
    const at2: CniAttachment = {
      ...at,
      args: [['IP', '10.9.9.9']],
      capabilityArgs: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }], ips: ['10.9.9.9/24'] },
    };
    const res = await r.add(l, at2);
    expect(res).toEqual({ cniVersion: '1.0.0', ips: [{ address: '10.9.9.9/24' }] });
    await r.check(l, at2, res);
    await r.del(l, { ...at2, netns: join(base, 'gone') }, res);
    const plain = join(base, 'not-a-netns');
    writeFileSync(plain, '');
    await r.del(l, { ...at2, netns: plain }, res);
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    const calls = lines.map((line) => {
      const [command, id, netnsPath, ifName, args, path, conf] = line.split('|');
      return { command, id, netnsPath, ifName, args, path, conf: JSON.parse(conf!) as Record<string, unknown> };
    });
    expect(calls.map((c) => c.command)).toEqual(['ADD', 'ADD', 'CHECK', 'CHECK', 'DEL', 'DEL', 'DEL', 'DEL']);
    expect(calls[0]).toMatchObject({
      id: 'c1',
      netnsPath: '/proc/self/ns/net',
      ifName: 'eth0',
      args: 'IgnoreUnknown=1;IP=10.9.9.9',
      path: `${fakeDir}:/nonexistent`,
    });
    // name and cniVersion from the list; capabilities removed; runtimeConfig only with what the plugin accepts
    expect(calls[0]!.conf).toEqual({
      type: recorder,
      cniVersion: '1.0.0',
      name: 'fakenet',
      custom: { a: 1 },
      runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] },
    });
    // the second ADD gets the first one's result; CHECK and DEL get the one given
    expect(calls[1]!.conf).toEqual({ type: recorder, cniVersion: '1.0.0', name: 'fakenet', runtimeConfig: { ips: ['10.9.9.9/24'] }, prevResult: res });
    for (const c of calls.slice(2)) expect(c.conf.prevResult).toEqual(res);
    // DEL runs in reverse order (the plugins differ in their runtimeConfig), with an empty CNI_NETNS
    // for a netns that is gone or a file that is no longer one
    expect(calls.slice(4).map((c) => Object.keys(c.conf.runtimeConfig as object))).toEqual([['ips'], ['portMappings'], ['ips'], ['portMappings']]);
    expect(calls.slice(4).map((c) => c.netnsPath)).toEqual(['', '', '', '']);
  });

  it('skips CHECK for lists below 0.4.0 and with disableCheck, and gives 0.3.x DELs no prevResult', async () => {
    const log = join(base, 'versions.log');
    const p = fake('versions', `conf=$(cat); echo "$CNI_COMMAND $conf" >> ${log}; echo '${ok('0.3.1')}'`);
    const r = new CniRunner({ binDirs: [fakeDir] });
    const old = { ...list(p), cniVersion: '0.3.1' };
    const res = await r.add(old, at);
    await r.check(old, at, res);
    await r.check({ ...list(p), disableCheck: true }, at, res);
    await r.del(old, at, res);
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    expect(lines.map((l) => l.split(' ')[0])).toEqual(['ADD', 'DEL']);
    expect(lines[1]).not.toContain('prevResult');
  });

  it('refuses unsupported versions, plugin types that are paths, and bad attachments', async () => {
    const r = new CniRunner({ binDirs: [fakeDir] });
    await expectRejects(r.add({ ...list('x'), cniVersion: '0.2.0' }, at), 'InvalidArgument', '0.2.0', '1.0.0');
    await expectRejects(r.add(list('../bin/sh'), at), 'InvalidArgument', '../bin/sh');
    await expectRejects(r.add(list('..'), at), 'InvalidArgument');
    await expectRejects(r.add(list(), at), 'InvalidArgument', 'no plugins');
    await expectRejects(r.add({ ...list('x'), name: '-net' }, at), 'InvalidArgument', 'network name');
    await expectRejects(r.add(list('x'), { ...at, containerId: '-x' }), 'InvalidArgument', 'container id');
    await expectRejects(r.add(list('x'), { ...at, ifName: 'a/b' }), 'InvalidArgument', 'interface name');
    await expectRejects(r.add(list('x'), { ...at, netns: '' }), 'InvalidArgument', 'network namespace');
    await expectRejects(r.add(list('x'), { ...at, args: [['K', 'a;b']] }), 'InvalidArgument', 'a;b');
  });

  it('reports a missing plugin as FailedPrecondition naming the dirs searched', async () => {
    const r = new CniRunner({ binDirs: [fakeDir, join(base, 'nothing')] });
    await expectRejects(r.add(list('nosuchplugin'), at), 'FailedPrecondition', 'nosuchplugin', fakeDir, join(base, 'nothing'));
  });

  it('kills a plugin that hangs, with what it started, and reports DeadlineExceeded', async () => {
    const pidFile = join(base, 'sleep.pid');
    const hang = fake('hang', `[ "$CNI_COMMAND" = DEL ] && exit 0; sleep 1000 & echo $! > ${pidFile}; wait`);
    const r = new CniRunner({ binDirs: [fakeDir], timeoutMs: 300 });
    const started = Date.now();
    await expectRejects(r.add(list(hang), at), 'DeadlineExceeded', 'hang', '300 ms');
    expect(Date.now() - started).toBeLessThan(5000);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    let alive = true;
    for (let i = 0; i < 40 && alive; i++) {
      await new Promise((res) => setTimeout(res, 50));
      const stat = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, 'utf8') : '';
      alive = stat !== '' && !/\) Z /.test(stat);
    }
    expect(alive).toBe(false);
  });

  it('turns garbage, a malformed result and an oversized output into errors', async () => {
    const r = new CniRunner({ binDirs: [fakeDir] });
    const garbage = fake('garbage', '[ "$CNI_COMMAND" = DEL ] && exit 0; echo "this is not json"');
    await expectRejects(r.add(list(garbage), at), 'Unknown', 'garbage', 'not JSON', 'this is not json');
    const shape = fake('shape', `[ "$CNI_COMMAND" = DEL ] && exit 0; echo '{"cniVersion":"1.0.0","ips":"everywhere"}'`);
    await expectRejects(r.add(list(shape), at), 'Unknown', 'malformed', 'ips is not a list');
    const version = fake('version', `[ "$CNI_COMMAND" = DEL ] && exit 0; echo '${ok('0.4.0')}'`);
    await expectRejects(r.add(list(version), at), 'Unknown', 'cniVersion "0.4.0"');
    const big = fake('big', '[ "$CNI_COMMAND" = DEL ] && exit 0; head -c 10485760 /dev/zero | tr \'\\0\' x');
    await expectRejects(r.add(list(big), at), 'Unknown', 'big', 'more than 1048576 bytes');
    const quiet = fake('quiet', 'echo "something broke" >&2; exit 3');
    await expectRejects(r.add(list(quiet), at), 'Unknown', 'quiet', 'exit status 3', 'something broke');
    const onStderr = fake('onstderr', `echo '{"cniVersion":"1.0.0","code":7,"msg":"bad subnet"}' >&2; exit 1`);
    await expectRejects(r.add(list(onStderr), at), 'InvalidArgument', 'onstderr', 'bad subnet', 'CNI error 7');
  });

  it('maps well-known CNI error codes to error classes', async () => {
    const r = new CniRunner({ binDirs: [fakeDir] });
    const busy = fake('busy', `[ "$CNI_COMMAND" = DEL ] && exit 0; echo '{"cniVersion":"1.0.0","code":11,"msg":"locked"}'; exit 1`);
    await expectRejects(r.add(list(busy), at), 'Unavailable', 'locked', 'CNI error 11');
  });

  it('runs every DEL even after one fails, then reports the first failure', async () => {
    const log = join(base, 'del.log');
    const good = fake('gooddel', `cat > /dev/null; echo "$CNI_COMMAND" >> ${log}`);
    const bad = fake('baddel', `echo '{"cniVersion":"1.0.0","code":5,"msg":"disk on fire"}'; exit 1`);
    const r = new CniRunner({ binDirs: [fakeDir] });
    await expectRejects(r.del(list(good, bad), at), 'Unknown', 'baddel', 'DEL', 'disk on fire');
    expect(readFileSync(log, 'utf8')).toBe('DEL\n');
  });
});
