import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Logger } from '../log.ts';
import { loadConflists, networkFrom, parseConflist } from './conflist.ts';
import { networkSettings } from './plugin.ts';
import { bridgeNameFor, type HostOps, NetworkStore } from './store.ts';

/** A logger that keeps its warnings. */
function recordingLog(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  const log: Logger & { warnings: string[] } = {
    warnings,
    debug: () => {},
    info: () => {},
    warn: (msg, fields) => warnings.push(`${msg} ${JSON.stringify(fields ?? {})}`),
    error: () => {},
    child: () => log,
  };
  return log;
}

/** What the store did to the host, instead of doing it. */
function fakeHost(): HostOps & { isolated: Set<string>; removedBridges: string[] } {
  const isolated = new Set<string>();
  const removedBridges: string[] = [];
  return {
    isolated,
    removedBridges,
    ensureIsolation: async (b) => void isolated.add(b),
    removeIsolation: async (b) => void isolated.delete(b),
    removeBridge: async (b) => void removedBridges.push(b),
  };
}

const bridgeList = (name: string, subnet: string) =>
  JSON.stringify({ cniVersion: '0.4.0', name, plugins: [{ type: 'bridge', bridge: 'cni5', ipam: { type: 'host-local', subnet } }] });

describe('conflist', () => {
  it('reads a list, and wraps a single plugin (.conf) into a list of one', () => {
    const list = parseConflist(bridgeList('a', '10.9.0.0/16'), 'a.conflist');
    expect(list.plugins.map((p) => p.type)).toEqual(['bridge']);
    const single = parseConflist(JSON.stringify({ cniVersion: '0.3.1', name: 'one', type: 'ptp', ipMasq: true }), 'one.conf');
    expect(single).toEqual({ cniVersion: '0.3.1', name: 'one', plugins: [{ type: 'ptp', ipMasq: true }] });
  });

  it.each([
    ['{', /not JSON/],
    ['[]', /must be a JSON object/],
    ['{"cniVersion":"1.0.0","plugins":[{"type":"bridge"}]}', /"name" must be a non-empty string/],
    ['{"name":"x","plugins":[{"type":"bridge"}]}', /"cniVersion" must be a non-empty string/],
    ['{"name":"x","cniVersion":"1.0.0","plugins":[]}', /"plugins" must be a non-empty list/],
    ['{"name":"x","cniVersion":"1.0.0","plugins":[{"type":"bridge"},{"mtu":3}]}', /plugins\[1\] needs a string "type"/],
    ['{"name":"x","cniVersion":"1.0.0","disableCheck":"yes","plugins":[{"type":"bridge"}]}', /"disableCheck" must be a boolean/],
  ])('refuses %s', (text, message) => {
    expect(() => parseConflist(text, 'f.conflist')).toThrow(message);
  });

  it('derives subnets, gateway and bridge from ranges and from the older flat subnet', () => {
    const ranges = parseConflist(
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'r',
        plugins: [
          {
            type: 'bridge',
            bridge: 'br9',
            ipam: { type: 'host-local', ranges: [[{ subnet: '10.1.0.0/24', gateway: '10.1.0.254' }], [{ subnet: '10.2.0.0/24' }]] },
          },
        ],
      }),
      'r',
    );
    expect(networkFrom(ranges, '/x/r.conflist', 'system', false)).toMatchObject({
      subnets: ['10.1.0.0/24', '10.2.0.0/24'],
      gateway: '10.1.0.254',
      bridge: 'br9',
    });
    const flat = networkFrom(parseConflist(bridgeList('f', '10.3.0.0/16'), 'f'), '/x/f.conflist', 'system', false);
    expect(flat).toMatchObject({ subnets: ['10.3.0.0/16'], gateway: '10.3.0.1', bridge: 'cni5' });
  });

  it('loads a dir sorted by file name, skipping broken files with a warning', async () => {
    const dir = mkdtempSync('/tmp/berth-conflist-');
    try {
      writeFileSync(join(dir, '20-b.conflist'), bridgeList('b', '10.5.0.0/24'));
      writeFileSync(join(dir, '10-a.conf'), JSON.stringify({ cniVersion: '0.3.1', name: 'a', type: 'bridge' }));
      writeFileSync(join(dir, '15-broken.json'), '{"name": ');
      writeFileSync(join(dir, 'README'), 'not a config');
      const log = recordingLog();
      const loaded = await loadConflists(dir, log);
      expect(loaded.map((l) => l.list.name)).toEqual(['a', 'b']);
      expect(log.warnings).toHaveLength(1);
      expect(log.warnings[0]).toContain('15-broken.json');
      expect(await loadConflists(join(dir, 'absent'), log)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('NetworkStore', () => {
  let dir: string;
  let host: ReturnType<typeof fakeHost>;
  let log: ReturnType<typeof recordingLog>;
  let hostAddresses: Array<{ cidr: string; iface: string }>;
  let store: NetworkStore;

  const open = async (raw: Record<string, unknown> = {}) => {
    const settings = networkSettings(
      { conf_dir: join(dir, 'etc'), default_bridge: 'bt1', default_subnet: '10.77.0.0/16', ...raw },
      join(dir, 'root'),
      join(dir, 'state'),
    );
    const s = new NetworkStore(settings, log, { host, hostNetworks: () => hostAddresses });
    await s.init();
    return s;
  };

  beforeEach(async () => {
    dir = mkdtempSync('/tmp/berth-netstore-');
    mkdirSync(join(dir, 'etc'));
    host = fakeHost();
    log = recordingLog();
    hostAddresses = [
      { cidr: '127.0.0.1/8', iface: 'lo' },
      { cidr: '192.168.7.20/24', iface: 'eth0' },
    ];
    store = await open();
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes the default network at start, and rewrites it when the settings change', async () => {
    const def = await store.get('bridge');
    expect(def).toMatchObject({ default: true, owner: 'berth', bridge: 'bt1', subnets: ['10.77.0.0/16'], gateway: '10.77.0.1' });
    expect(def.list.plugins.map((p) => p.type)).toEqual(['bridge', 'portmap', 'firewall', 'tuning']);
    expect(def.list.plugins[0]).toMatchObject({ isGateway: true, ipMasq: true, hairpinMode: true, ipam: { dataDir: join(dir, 'root', 'cni', 'networks') } });
    expect(def.list.plugins[1]).toEqual({ type: 'portmap', capabilities: { portMappings: true } });
    expect(host.isolated).toEqual(new Set(['bt1']));
    store = await open({ default_bridge: 'bt2', default_subnet: '10.88.0.0/24' });
    expect(await store.get('bridge')).toMatchObject({ bridge: 'bt2', subnets: ['10.88.0.0/24'], gateway: '10.88.0.1' });
    // the former bridge is not isolated any more, the new one is
    expect(host.isolated).toEqual(new Set(['bt2']));
  });

  it('creates a network: its conflist file (atomically written), a br- bridge, labels kept in the file', async () => {
    const net = await store.create({ name: 'web', subnet: '10.10.0.0/24', labels: { team: 'a' } });
    expect(net).toMatchObject({ name: 'web', owner: 'berth', default: false, subnets: ['10.10.0.0/24'], gateway: '10.10.0.1', labels: { team: 'a' } });
    expect(net.bridge).toBe(bridgeNameFor('web'));
    expect(net.bridge).toMatch(/^br-[0-9a-f]{12}$/);
    expect(host.isolated.has(net.bridge!)).toBe(true);
    expect(readdirSync(join(dir, 'root', 'net.d')).sort()).toEqual(['bridge.conflist', 'web.conflist']);
    // a temporary file left by a crash while writing is never read as a network
    writeFileSync(join(dir, 'root', 'net.d', '.half.conflist.tmp'), '{"name": "half", "cniVer');
    const onDisk = JSON.parse(readFileSync(net.path, 'utf8'));
    expect(onDisk['io.berth.labels']).toEqual({ team: 'a' });
    expect((await store.list()).map((n) => n.name)).toEqual(['bridge', 'web']);
    await expect(store.create({ name: 'web', subnet: '10.11.0.0/24' })).rejects.toMatchObject({ code: 'AlreadyExists' });
  });

  it.each([
    ['-bad', /invalid network name "-bad"/],
    ['a/b', /invalid network name/],
    ['x'.repeat(65), /invalid network name/],
    ['host', /"host" is reserved/],
    ['none', /"none" is reserved/],
    ['bridge', /"bridge" is reserved/],
  ])('refuses the name %s', async (name, message) => {
    await expect(store.create({ name })).rejects.toMatchObject({ code: 'InvalidArgument', message: expect.stringMatching(message) });
  });

  it('accepts a 64-character name with dots, dashes and underscores', async () => {
    const name = `a.b-c_${'x'.repeat(58)}`;
    expect((await store.create({ name })).name).toBe(name);
  });

  it('refuses a subnet overlapping a network or a host address, naming it', async () => {
    await store.create({ name: 'one', subnet: '10.20.0.0/16' });
    await expect(store.create({ name: 'two', subnet: '10.20.5.0/24' })).rejects.toMatchObject({
      code: 'FailedPrecondition',
      message: 'subnet 10.20.5.0/24 overlaps network "one" (10.20.0.0/16)',
    });
    await expect(store.create({ name: 'two', subnet: '10.0.0.0/8' })).rejects.toMatchObject({
      code: 'FailedPrecondition',
      message: expect.stringContaining('network "bridge" (10.77.0.0/16)'),
    });
    await expect(store.create({ name: 'two', subnet: '192.168.7.128/25' })).rejects.toMatchObject({
      code: 'FailedPrecondition',
      message: "subnet 192.168.7.128/25 overlaps the host's address 192.168.7.20/24 on eth0",
    });
  });

  it.each([
    ['fd00::/64', undefined, /IPv6 subnets are not supported yet/],
    ['10.30.0.1/24', undefined, /host bits set/],
    ['10.30.0.0', undefined, /not an IPv4 CIDR/],
    ['10.30.0.0/31', undefined, /too small/],
    ['10.30.0.0/24', '10.31.0.1', /gateway 10.31.0.1 is not inside subnet 10.30.0.0\/24/],
    ['10.30.0.0/24', '10.30.0.0', /network or broadcast address/],
    ['10.30.0.0/24', '10.30.0.255', /network or broadcast address/],
    ['10.30.0.0/24', 'fd00::1', /IPv6 is not supported yet/],
    ['10.30.0.0/24', 'gw', /not an IPv4 address/],
  ])('refuses subnet %s gateway %s', async (subnet, gateway, message) => {
    await expect(store.create({ name: 'n', subnet, gateway })).rejects.toMatchObject({ code: 'InvalidArgument', message: expect.stringMatching(message) });
    expect(readdirSync(join(dir, 'root', 'net.d'))).toEqual(['bridge.conflist']);
  });

  it('takes a gateway inside the subnet', async () => {
    expect(await store.create({ name: 'g', subnet: '10.30.0.0/24', gateway: '10.30.0.254' })).toMatchObject({ gateway: '10.30.0.254' });
  });

  it('picks the first free /24 of the pool when no subnet is given', async () => {
    await store.create({ name: 'taken', subnet: '10.78.0.0/23' });
    hostAddresses.push({ cidr: '10.78.2.9/24', iface: 'eth1' });
    expect((await store.create({ name: 'a' })).subnets).toEqual(['10.78.3.0/24']);
    expect((await store.create({ name: 'b' })).subnets).toEqual(['10.78.4.0/24']);
    const small = await open({ subnet_pool: '10.90.0.0/24' });
    await small.create({ name: 'c' });
    await expect(small.create({ name: 'd' })).rejects.toMatchObject({
      code: 'FailedPrecondition',
      message: expect.stringContaining('no free /24 left in the subnet pool 10.90.0.0/24'),
    });
  });

  it("reads the system's networks; berth's own wins a name both have, with a warning", async () => {
    writeFileSync(join(dir, 'etc', '10-sys.conflist'), bridgeList('sys', '10.40.0.0/16'));
    writeFileSync(join(dir, 'etc', '20-bridge.conflist'), bridgeList('bridge', '10.41.0.0/16'));
    const nets = await store.list();
    expect(nets.map((n) => [n.name, n.owner])).toEqual([
      ['bridge', 'berth'],
      ['sys', 'system'],
    ]);
    expect(log.warnings.some((w) => w.includes('20-bridge.conflist'))).toBe(true);
    await expect(store.create({ name: 'x', subnet: '10.40.1.0/24' })).rejects.toMatchObject({ message: expect.stringContaining('network "sys"') });
    await expect(store.remove('sys')).rejects.toMatchObject({ code: 'FailedPrecondition', message: expect.stringContaining("is the system's") });
  });

  it('removes a network: its file, bridge, isolation rules and IPAM dir; refuses the default, unknown and used ones', async () => {
    const net = await store.create({ name: 'gone', subnet: '10.50.0.0/24' });
    const ipam = join(dir, 'root', 'cni', 'networks', 'gone');
    mkdirSync(ipam, { recursive: true });
    writeFileSync(join(ipam, '10.50.0.2'), 'c1\r\neth0');
    store.useAttachments({ get: () => undefined, usersOf: (n) => (n === 'gone' ? ['default/c1'] : []) });
    await expect(store.remove('gone')).rejects.toMatchObject({ code: 'FailedPrecondition', message: 'network "gone" is in use by container default/c1' });
    store.useAttachments({ get: () => undefined, usersOf: () => [] });
    await store.remove('gone');
    expect(host.removedBridges).toEqual([net.bridge]);
    expect(host.isolated.has(net.bridge!)).toBe(false);
    expect(readdirSync(join(dir, 'root', 'cni', 'networks'))).toEqual([]);
    await expect(store.get('gone')).rejects.toMatchObject({ code: 'NotFound', message: 'network "gone" not found' });
    await expect(store.remove('gone')).rejects.toMatchObject({ code: 'NotFound' });
    await expect(store.remove('bridge')).rejects.toMatchObject({ code: 'FailedPrecondition', message: expect.stringContaining('default network') });
  });

  it('refuses wrong settings with the key in the message', () => {
    const s = (raw: Record<string, unknown>) => () => networkSettings(raw, '/r', '/s');
    expect(s({ default_subnet: 7 })).toThrow('config: plugins."io.berth.network.v1.cni".default_subnet must be a non-empty string');
    expect(s({ default_subnet: '10.0.0.0/33' })).toThrow(/default_subnet = "10.0.0.0\/33": .*not an IPv4 CIDR/);
    expect(s({ subnet_pool: '10.0.0.0/28' })).toThrow(/subnet_pool .*\/24 or shorter/);
    expect(s({ default_bridge: 'a-very-long-bridge-name' })).toThrow(/default_bridge .* is not an interface name/);
    expect(s({ bin_dirs: '/usr/lib/cni' })).toThrow(/bin_dirs must be a list of strings/);
    expect(networkSettings({}, '/r', '/s')).toMatchObject({
      ownDir: '/r/net.d',
      ipamDir: '/r/cni/networks',
      stateDir: '/s/net',
      defaultBridge: 'berth0',
      confDir: '/etc/cni/net.d',
    });
  });
});
