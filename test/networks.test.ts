import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { bridgeNameFor } from '../daemon/network/store.ts';
import { type Berthd, type Containerd, startBerthd, startContainerd } from './support/harness.ts';
import { linkExists, networkConfigToml, rulesFor, uniqueTestNetwork } from './support/network.ts';
import { describeAsRoot, installed, itAsRoot } from './support/root.ts';

describeAsRoot('networks: the default network of a test berthd', [installed('iptables')], () => {
  let b: Berthd;
  beforeAll(async () => {
    b = await startBerthd();
  }, 30_000);
  afterAll(async () => {
    await b?.cleanup();
  });

  itAsRoot('has its own bridge name and subnet, written to its conflist, and is isolated; all of it goes with the daemon', async () => {
    expect(b.network.bridge).toMatch(/^bt\d{8}$/);
    const list = JSON.parse(readFileSync(join(b.root, 'net.d', 'bridge.conflist'), 'utf8'));
    expect(list.plugins[0]).toMatchObject({ type: 'bridge', bridge: b.network.bridge, ipam: { ranges: [[{ subnet: b.network.subnet }]] } });
    expect(rulesFor(b.network.bridge)).toEqual([
      `-A BERTH-ISOLATION-1 -i ${b.network.bridge} ! -o ${b.network.bridge} -j BERTH-ISOLATION-2`,
      `-A BERTH-ISOLATION-2 -o ${b.network.bridge} -j DROP`,
    ]);
    await b.cleanup();
    expect(rulesFor(b.network.bridge)).toEqual([]);
    expect(existsSync(b.dir)).toBe(false);
  });
});

describeAsRoot('networks: settings', () => {
  itAsRoot('a config file given to startBerthd gets the network table appended; a wrong setting stops berthd with a clear message', async () => {
    const b = await startBerthd();
    try {
      const config = join(b.dir, 'extra.toml');
      writeFileSync(config, 'version = 2\n[plugins."io.containerd.grpc.v1.pull"]\n  max_concurrent_unpacks = 2');
      const other = await startBerthd(['--config', config]);
      try {
        expect(readFileSync(config, 'utf8')).toContain(`default_bridge = "${other.network.bridge}"`);
        expect(JSON.parse(readFileSync(join(other.root, 'net.d', 'bridge.conflist'), 'utf8')).plugins[0].bridge).toBe(other.network.bridge);
      } finally {
        await other.cleanup();
      }
      writeFileSync(config, `version = 2\n${networkConfigToml({ ...uniqueTestNetwork(), subnet: '10.1.2.3/33' })}`);
      await expect(startBerthd(['--config', config])).rejects.toThrow(
        /required plugin io.berth.network.v1.cni failed to load: config: plugins."io.berth.network.v1.cni".default_subnet = "10.1.2.3\/33": 10.1.2.3\/33 is not an IPv4 CIDR/,
      );
    } finally {
      await b.cleanup();
    }
  });
});

describeAsRoot('berth network', [installed('iptables'), installed('ip')], () => {
  let b: Berthd;
  beforeAll(async () => {
    b = await startBerthd();
  }, 30_000);
  afterAll(async () => {
    await b?.cleanup();
  });

  const isolation = (bridge: string) => [`-A BERTH-ISOLATION-1 -i ${bridge} ! -o ${bridge} -j BERTH-ISOLATION-2`, `-A BERTH-ISOLATION-2 -o ${bridge} -j DROP`];

  itAsRoot('creates, lists, inspects and removes a network; its isolation rules, bridge and IPAM data go with it', () => {
    const { subnet: defaultSubnet, bridge: defaultBridge, pool } = b.network;
    const created = b.berth(['network', 'create', 'web', '--label', 'team=a', '--label', 'tier=1']);
    expect(created).toMatchObject({ code: 0, stdout: 'web\n', stderr: '' });
    const bridge = bridgeNameFor('web');
    // the first /24 of the daemon's pool
    const webSubnet = pool.replace(/\/20$/, '/24');
    expect(rulesFor(bridge)).toEqual(isolation(bridge));

    const ls = b.berth(['network', 'ls']);
    expect(ls.code).toBe(0);
    expect(
      ls.stdout
        .trim()
        .split('\n')
        .map((l) => l.split(/\s+/)),
    ).toEqual([
      ['NAME', 'SUBNET', 'GATEWAY', 'BRIDGE', 'DEFAULT'],
      ['bridge', defaultSubnet, defaultSubnet.replace(/0\/24$/, '1'), defaultBridge, 'true'],
      ['web', webSubnet, webSubnet.replace(/0\/24$/, '1'), bridge, 'false'],
    ]);
    expect(b.berth(['network', 'ls', '-q']).stdout).toBe('bridge\nweb\n');
    const json = JSON.parse(b.berth(['network', 'ls', '--format', 'json']).stdout);
    expect(json[1]).toEqual({
      name: 'web',
      subnets: [webSubnet],
      gateway: webSubnet.replace(/0\/24$/, '1'),
      bridge,
      default: false,
      owner: 'berth',
      config_path: join(b.root, 'net.d', 'web.conflist'),
      labels: { team: 'a', tier: '1' },
    });

    const inspect = b.berth(['network', 'inspect', 'web', 'bridge']);
    expect(inspect.code).toBe(0);
    const [web, def] = JSON.parse(inspect.stdout);
    expect(web.config.plugins.map((p: { type: string }) => p.type)).toEqual(['bridge', 'portmap', 'firewall', 'tuning']);
    expect(web.config.plugins[0].ipam.dataDir).toBe(join(b.root, 'cni', 'networks'));
    expect(def).toMatchObject({ name: 'bridge', default: true, bridge: defaultBridge });

    // what the CNI bridge plugin and host-local make on the first attach
    spawnSync('ip', ['link', 'add', bridge, 'type', 'bridge']);
    const leases = join(b.root, 'cni', 'networks', 'web');
    mkdirSync(leases, { recursive: true });
    writeFileSync(join(leases, '10.0.0.2'), 'c1\r\neth0');
    expect(linkExists(bridge)).toBe(true);

    expect(b.berth(['network', 'rm', 'web'])).toMatchObject({ code: 0, stdout: 'web\n' });
    expect(linkExists(bridge)).toBe(false);
    expect(rulesFor(bridge)).toEqual([]);
    expect(readdirSync(join(b.root, 'cni', 'networks'))).toEqual([]);
    expect(readdirSync(join(b.root, 'net.d'))).toEqual(['bridge.conflist']);
    expect(b.berth(['network', 'ls', '-q']).stdout).toBe('bridge\n');
  });

  itAsRoot('reports bad input with exit status 1 and the reason, and makes nothing', () => {
    expect(b.berth(['network', 'create', 'one', '--subnet', '10.199.0.0/24']).code).toBe(0);
    const cases: Array<[string[], string]> = [
      [
        ['network', 'create', 'two', '--subnet', '10.199.0.128/25'],
        'berth: subnet 10.199.0.128/25 overlaps network "one" (10.199.0.0/24): failed precondition\n',
      ],
      [
        ['network', 'create', 'two', '--subnet', b.network.subnet],
        `berth: subnet ${b.network.subnet} overlaps network "bridge" (${b.network.subnet}): failed precondition\n`,
      ],
      [
        ['network', 'create', 'two', '--subnet', '127.0.0.0/16'],
        "berth: subnet 127.0.0.0/16 overlaps the host's address 127.0.0.1/8 on lo: failed precondition\n",
      ],
      [['network', 'create', 'two', '--subnet', 'fd00::/64'], 'berth: fd00::/64: IPv6 subnets are not supported yet: invalid argument\n'],
      [
        ['network', 'create', 'two', '--subnet', '10.198.0.0/24', '--gateway', '10.198.1.1'],
        'berth: gateway 10.198.1.1 is not inside subnet 10.198.0.0/24: invalid argument\n',
      ],
      [['network', 'create', 'host'], 'berth: network name "host" is reserved: invalid argument\n'],
      [['network', 'create', 'one'], 'berth: network "one" already exists\n'],
      [['network', 'rm', 'bridge'], 'berth: network "bridge" is the default network and cannot be removed: failed precondition\n'],
      [['network', 'rm', 'nothing'], 'berth: network "nothing" not found\n'],
      [['network', 'inspect', 'nothing'], 'berth: network "nothing" not found\n'],
    ];
    for (const [args, stderr] of cases) expect(b.berth(args), args.join(' ')).toMatchObject({ code: 1, stderr });
    expect(b.berth(['network', 'ls', '-q']).stdout).toBe('bridge\none\n');
    expect(b.berth(['network', 'rm', 'one']).code).toBe(0);
  });

  itAsRoot('sets the isolation rules up again at start for every berth network, once', async () => {
    expect(b.berth(['network', 'create', 'kept']).code).toBe(0);
    const bridge = bridgeNameFor('kept');
    await b.stop();
    spawnSync('iptables', ['-w', '-D', 'BERTH-ISOLATION-2', '-o', bridge, '-j', 'DROP']);
    await b.restart();
    expect(rulesFor(bridge)).toEqual(isolation(bridge));
    await b.stop();
    await b.restart();
    expect(rulesFor(bridge)).toEqual(isolation(bridge));
    expect(rulesFor(b.network.bridge)).toEqual(isolation(b.network.bridge));
  });
});

/** Runs a conflist's plugins as a CNI runtime does (ADD in order, DEL in reverse, prevResult chained); the test's own minimal runner. */
function cni(
  command: 'ADD' | 'DEL',
  list: { cniVersion: string; name: string; plugins: Array<Record<string, unknown>> },
  id: string,
  netns: string,
  prev?: unknown,
): unknown {
  let result = prev;
  for (const { capabilities: _, ...plugin } of command === 'ADD' ? list.plugins : [...list.plugins].reverse()) {
    const conf = { ...plugin, cniVersion: list.cniVersion, name: list.name, ...(result ? { prevResult: result } : {}) };
    const r = spawnSync(`/usr/lib/cni/${plugin.type}`, {
      input: JSON.stringify(conf),
      encoding: 'utf8',
      env: { CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: netns, CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni', PATH: process.env.PATH },
    });
    if (r.status !== 0) throw new Error(`${plugin.type} ${command}: ${r.stdout}${r.stderr}`);
    if (command === 'ADD') result = JSON.parse(r.stdout);
  }
  return result;
}

describeAsRoot(
  'networks: isolation with the real CNI plugins',
  [
    installed('iptables'),
    installed('ip'),
    installed('busybox'),
    installed('curl'),
    { ok: existsSync('/usr/lib/cni/bridge'), reason: 'the CNI plugins are not installed' },
  ],
  () => {
    let b: Berthd;
    beforeAll(async () => {
      b = await startBerthd();
    }, 30_000);
    afterAll(async () => {
      await b?.cleanup();
    });

    itAsRoot('a namespace reaches one on its own network, not one on another network; the host reaches both; nothing is left', async () => {
      expect(b.berth(['network', 'create', 'iso']).code).toBe(0);
      const lists = {
        bridge: JSON.parse(readFileSync(join(b.root, 'net.d', 'bridge.conflist'), 'utf8')),
        iso: JSON.parse(readFileSync(join(b.root, 'net.d', 'iso.conflist'), 'utf8')),
      };
      const tag = b.network.bridge;
      const attached: Array<{ list: typeof lists.bridge; id: string; netns: string; result: unknown }> = [];
      const servers: ReturnType<typeof spawn>[] = [];
      const www = join(b.dir, 'www');
      mkdirSync(www);
      writeFileSync(join(www, 'index.html'), 'hi\n');
      const attach = (id: string, net: keyof typeof lists) => {
        const netns = `/run/netns/${tag}-${id}`;
        spawnSync('ip', ['netns', 'add', `${tag}-${id}`]);
        const result = cni('ADD', lists[net], id, netns) as { ips: Array<{ address: string }> };
        attached.push({ list: lists[net], id, netns, result });
        return result.ips[0]!.address.split('/')[0]!;
      };
      const serve = (id: string) => {
        servers.push(spawn('ip', ['netns', 'exec', `${tag}-${id}`, 'busybox', 'httpd', '-f', '-p', '8080', '-h', www], { stdio: 'ignore' }));
      };
      const get = (from: string, ip: string) =>
        spawnSync('ip', ['netns', 'exec', `${tag}-${from}`, 'curl', '-s', '-m', '2', '-o', '/dev/null', '-w', '%{http_code}', `http://${ip}:8080/`], {
          encoding: 'utf8',
        }).stdout;
      try {
        attach('a1', 'bridge');
        const a2 = attach('a2', 'bridge');
        const b1 = attach('b1', 'iso');
        serve('a2');
        serve('b1');
        const fromHost = (ip: string) => spawnSync('curl', ['-s', '-m', '2', `http://${ip}:8080/`], { encoding: 'utf8' }).stdout;
        // the host reaches both (once their servers listen), so a refusal below is the isolation
        for (let i = 0; i < 40 && (fromHost(a2) !== 'hi\n' || fromHost(b1) !== 'hi\n'); i++) spawnSync('sleep', ['0.25']);
        expect([fromHost(a2), fromHost(b1)]).toEqual(['hi\n', 'hi\n']);
        expect(get('a1', a2)).toBe('200');
        expect(get('a1', b1)).toBe('000');
        expect(get('b1', a2)).toBe('000');
      } finally {
        for (const s of servers) s.kill('SIGKILL');
        for (const a of attached.reverse()) {
          cni('DEL', a.list, a.id, a.netns, a.result);
          spawnSync('ip', ['netns', 'delete', a.netns.split('/').pop()!]);
        }
      }
      // the CNI bridge plugin made both bridges; the daemon's cleanup takes them and their rules
      const bridges = [b.network.bridge, bridgeNameFor('iso')];
      expect(bridges.map(linkExists)).toEqual([true, true]);
      await b.cleanup();
      expect(bridges.map(linkExists)).toEqual([false, false]);
      expect(bridges.flatMap(rulesFor)).toEqual([]);
    });
  },
);

describeAsRoot('berth network against containerd', [installed('containerd')], () => {
  let ctd: Containerd;
  beforeAll(async () => {
    ctd = await startContainerd();
  }, 30_000);
  afterAll(async () => {
    await ctd?.cleanup();
  });

  itAsRoot('says in one line that it needs berthd', () => {
    const r = spawnSync(join(import.meta.dirname, '..', 'bin', 'berth'), ['--address', ctd.address, 'network', 'ls'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      `berth: berth network needs berthd: the daemon at ${ctd.address} has no berth.services.networks.v1.Networks service (containerd has no networks)\n`,
    );
  });
});
