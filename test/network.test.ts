import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { createNetns } from '../native/namespaces.ts';
import {
  addressIn,
  bridgePorts,
  containerChains,
  containerRules,
  existingChains,
  freePort,
  freeUdpPort,
  leases,
  leftovers,
  netnsOf,
  noLeftovers,
  sh,
  udpEcho,
  udpRoundTrip,
} from './support/attach.ts';
import { type Berthd, startBerthd } from './support/harness.ts';
import { networkConfigToml, uniqueTestNetwork } from './support/network.ts';
import { describeAsRoot, installed, itAsRoot } from './support/root.ts';
import { loadRunImage } from './support/run-image.ts';
import { eventually } from './support/util.ts';

/** berth run on berthd's CNI networks: real plugins, real traffic (to loopback and the test daemon's own bridge only). */
describeAsRoot('berth run with networking', [installed('iptables'), installed('curl'), installed('nsenter')], () => {
  let b: Berthd;
  let image: string;
  let fifoDir: string;
  const berth = (args: string[]) => b.berth(args, { env: { BERTH_FIFO_DIR: fifoDir } });
  /** a detached container with no stdio; its output goes nowhere */
  const runDetached = (id: string, flags: string[], command: string[]) => berth(['run', '-d', '--null-io', ...flags, image, id, ...command]);
  const remove = (...ids: string[]) => {
    for (const id of ids) {
      berth(['tasks', 'rm', '-f', id]);
      berth(['containers', 'rm', id]);
    }
  };

  beforeAll(async () => {
    b = await startBerthd();
    image = await loadRunImage(b);
    fifoDir = mkdtempSync(join(tmpdir(), 'berth-fifo-'));
  }, 60_000);

  afterAll(async () => {
    if (b) {
      for (const id of berth(['tasks', 'ls', '-q']).stdout.split('\n').filter(Boolean)) berth(['tasks', 'rm', '-f', id]);
      for (const id of berth(['containers', 'ls', '-q']).stdout.split('\n').filter(Boolean)) berth(['containers', 'rm', id]);
      await b.cleanup();
    }
    if (fifoDir) rmSync(fifoDir, { recursive: true, force: true });
  });

  itAsRoot('a busybox httpd published with -p answers curl on 127.0.0.1; removing it leaves nothing', async () => {
    const port = await freePort();
    const r = runDetached('web', ['-p', `${port}:80`], ['httpd', '-f', '-p', '80', '-h', '/work']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const got = sh('curl', ['-sS', '--max-time', '5', `http://127.0.0.1:${port}/hello.txt`]);
    expect(got.stderr).toBe('');
    expect(got.stdout).toBe('hello from the run image\n');
    expect(berth(['containers', 'ls', '--wide']).stdout).toMatch(new RegExp(`^web\\s.*0\\.0\\.0\\.0:${port}->80/tcp$`, 'm'));
    const info = JSON.parse(berth(['containers', 'info', 'web']).stdout) as {
      Networking: { Networks: Array<{ Name: string; Interface: string; Addresses: string[] }>; Ports: string[] };
    };
    expect(info.Networking.Ports).toEqual([`0.0.0.0:${port}->80/tcp`]);
    expect(info.Networking.Networks).toMatchObject([
      {
        Name: 'bridge',
        Interface: 'eth0',
        Addresses: [expect.stringMatching(new RegExp(`^${addressIn(b.network.subnet, 0).replace(/\.0$/, '').replaceAll('.', '\\.')}\\.\\d+/24$`))],
      },
    ]);
    const live = leftovers(b, 'default', 'web');
    expect(live).toMatchObject({ leases: [expect.stringMatching(/^bridge\//)], veths: [expect.any(String)], netnsDir: true });
    expect(live.rules.length).toBeGreaterThan(0);
    const chains = containerChains('default-web');
    expect(chains).toEqual(expect.arrayContaining([expect.stringMatching(/^CNI-DN-/)]));
    remove('web');
    expect(leftovers(b, 'default', 'web')).toEqual(noLeftovers);
    expect(existingChains(chains)).toEqual([]);
  });

  itAsRoot('two containers on the same network reach each other by address (--ip sets one)', () => {
    const ip = addressIn(b.network.subnet, 77);
    expect(runDetached('server', ['--ip', ip], ['httpd', '-f', '-p', '80', '-h', '/work']).code).toBe(0);
    try {
      expect(sh('nsenter', [`--net=${netnsOf(b, 'default', 'server')}`, 'ip', '-4', '-o', 'addr', 'show', 'eth0']).stdout).toContain(`inet ${ip}/24`);
      // (busybox's wget crashes in this static build; nc speaks the HTTP)
      const r = berth(['run', '--rm', image, 'client', 'sh', '-c', `printf 'GET /hello.txt HTTP/1.0\\r\\n\\r\\n' | nc -w 5 ${ip} 80`]);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/^HTTP\/1\.[01] 200 OK\r\n[\s\S]*\r\n\r\nhello from the run image\n$/);
      expect(r.code).toBe(0);
    } finally {
      remove('server');
    }
    expect(leftovers(b, 'default', 'server')).toEqual(noLeftovers);
  });

  itAsRoot('--net none: only lo, which is up', () => {
    const r = berth(['run', '--rm', '--net', 'none', image, 'lonely', 'ip', '-o', 'link']);
    expect(r.code).toBe(0);
    const links = r.stdout.trim().split('\n');
    expect(links).toHaveLength(1);
    expect(links[0]).toMatch(/^1: lo: <LOOPBACK,UP,LOWER_UP>/);
    // and the default bridge gives eth0 besides lo (brought up by CNI's loopback plugin)
    const bridged = berth(['run', '--rm', image, 'bridged', 'ip', '-o', 'link']).stdout.trim().split('\n');
    expect(bridged.map((l) => l.split(':')[1]?.trim().split('@')[0])).toEqual(['lo', 'eth0']);
    expect(bridged[0]).toMatch(/<LOOPBACK,UP,LOWER_UP>/);
  });

  itAsRoot("--net host: the host's interfaces and /etc/hosts; no CNI", async () => {
    const r = berth(['run', '--rm', '--net', 'host', image, 'on-host', 'sh', '-c', 'ip -o link | cut -d: -f2; echo ---; cat /etc/hosts']);
    expect(r.stderr).toBe('');
    const [links, hosts] = r.stdout.split('---\n');
    // (other tests add and remove veths and bridges meanwhile: compare the host's own links)
    const own = (lines: string) =>
      lines
        .split('\n')
        .filter(Boolean)
        .map((l) => (l.includes(': ') ? l.split(':')[1]! : l).trim().split('@')[0]!)
        .filter((n) => !/^(veth|bt|bf|br-)/.test(n));
    const hostLinks = own(sh('ip', ['-o', 'link']).stdout);
    expect(hostLinks.length).toBeGreaterThan(1);
    expect(own(links!)).toEqual(hostLinks);
    expect(hosts).toBe(readFileSync('/etc/hosts', 'utf8'));
    // berthd removes a --rm container (its files too) once it exited; berth run does not wait
    expect(
      await eventually(
        () => leftovers(b, 'default', 'on-host'),
        (l) => JSON.stringify(l) === JSON.stringify(noLeftovers),
      ),
    ).toEqual(noLeftovers);
    const both = berth(['run', '--rm', '--net', 'host', '--net', 'bridge', image, 'confused', 'true']);
    expect(both.stderr).toContain('--net host cannot be combined with other networks');
    expect(both.code).not.toBe(0);
  });

  itAsRoot('UDP: a port published with /udp reaches a server in the container and its answer comes back', async () => {
    const port = await freeUdpPort();
    expect(runDetached('udp', ['-p', `127.0.0.1:${port}:5353/udp`], ['sleep', '600']).code).toBe(0);
    // busybox's nc has no UDP: an echo server in the container's network namespace, from the host
    const server = spawn('nsenter', [`--net=${netnsOf(b, 'default', 'udp')}`, process.execPath, '-e', udpEcho], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise((resolve) => server.stdout!.once('data', resolve));
      expect(await udpRoundTrip('127.0.0.1', port, 'ping over udp')).toBe('echo: ping over udp');
    } finally {
      server.kill('SIGKILL');
      remove('udp');
    }
    expect(leftovers(b, 'default', 'udp')).toEqual(noLeftovers);
  });

  itAsRoot('/etc/hosts, /etc/hostname and /etc/resolv.conf: written for the container, read-only', () => {
    const r = berth([
      'run',
      '--rm',
      '--hostname',
      'box',
      '--add-host',
      'db.example:10.1.2.3',
      '--dns',
      '192.0.2.53',
      '--dns-search',
      'corp.example',
      '--dns-option',
      'ndots:2',
      image,
      'files',
      'sh',
      '-c',
      'cat /etc/hosts; echo ---; cat /etc/hostname; hostname; echo ---; cat /etc/resolv.conf; echo ---; echo x >> /etc/hosts',
    ]);
    const [hosts, hostname, resolv, write] = r.stdout.split('---\n');
    expect(hosts).toMatch(/^127\.0\.0\.1\tlocalhost\n/);
    expect(hosts).toContain('10.1.2.3\tdb.example\n');
    expect(hosts).toMatch(new RegExp(`\\n${b.network.subnet.split('.').slice(0, 3).join('\\.')}\\.\\d+\\tbox\\n$`));
    expect(hostname).toBe('box\nbox\n');
    expect(resolv).toBe('nameserver 192.0.2.53\nsearch corp.example\noptions ndots:2\n');
    expect(write).toBe('');
    expect(r.stderr).toMatch(/Read-only file system/);
    // without flags: the container's id as hostname, the host's resolvers without loopback ones
    const plain = berth(['run', '--rm', image, 'plain-files', 'sh', '-c', 'hostname; cat /etc/resolv.conf']);
    expect(plain.stdout.split('\n')[0]).toBe('plain-files');
    expect(plain.stdout).toMatch(/^nameserver /m);
    expect(plain.stdout).not.toMatch(/^nameserver 127\./m);
  });
  itAsRoot('a container on a second network cannot reach one on the first; one on both gets eth0 and eth1', () => {
    const created = berth(['network', 'create', 'second']);
    expect(created.stderr).toBe('');
    const ip = addressIn(b.network.subnet, 78);
    expect(runDetached('first-server', ['--ip', ip], ['httpd', '-f', '-p', '80', '-h', '/work']).code).toBe(0);
    try {
      const get = `printf 'GET /hello.txt HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${ip} 80`;
      const blocked = berth(['run', '--rm', '--net', 'second', image, 'other-client', 'sh', '-c', get]);
      expect(blocked.stdout).toBe('');
      expect(blocked.code).not.toBe(0);
      const both = berth(['run', '--rm', '--net', 'bridge', '--net', 'second', image, 'both', 'sh', '-c', `ip -o link | cut -d: -f2; ${get}`]);
      expect(both.stdout).toMatch(/^ lo\n eth0@if\d+\n eth1@if\d+\nHTTP\/1\.[01] 200 OK/);
      // a network in use cannot be removed
      expect(runDetached('second-user', ['--net', 'second'], ['sleep', '600']).code).toBe(0);
      const rm = berth(['network', 'rm', 'second']);
      expect(rm.stderr).toMatch(/network "second" is in use by container default\/second-user/);
      expect(rm.code).not.toBe(0);
    } finally {
      remove('first-server', 'second-user');
      berth(['network', 'rm', 'second']);
    }
    expect(leftovers(b, 'default', 'first-server')).toEqual(noLeftovers);
  });

  itAsRoot(
    '50 containers run --rm one after another leave no lease, veth, netns or rule behind',
    async () => {
      for (let i = 0; i < 50; i++) {
        const r = berth(['run', '--rm', '-p', `${40000 + i}:80`, image, `loop${i}`, 'true']);
        expect(r.stderr).toBe('');
        expect(r.code).toBe(0);
      }
      // berthd removes a --rm container once its process has exited, after the client returned
      const left = await eventually(
        () => ({ leases: leases(b), veths: bridgePorts(b.network.bridge), netns: readdirSync(join(b.state, 'net')) }),
        (l) => l.leases.length + l.veths.length + l.netns.length === 0,
      );
      expect(left).toEqual({ leases: [], veths: [], netns: [] });
      for (let i = 0; i < 50; i++) expect(containerRules(`default-loop${i}`)).toEqual([]);
    },
    240_000,
  );

  itAsRoot(
    'berthd SIGKILLed and restarted: a running container still answers; one that died meanwhile is released; stopped and deleted, nothing is left',
    async () => {
      const port = await freePort();
      expect(runDetached('survivor', ['-p', `${port}:80`], ['httpd', '-f', '-p', '80', '-h', '/work']).code).toBe(0);
      expect(runDetached('ephemeral', ['--rm', '-p', `${await freePort()}:80`], ['sleep', '600']).code).toBe(0);
      const ephemeral = (JSON.parse(berth(['tasks', 'ls', '--format', 'json']).stdout) as Array<{ id: string; pid: number }>).find(
        (t) => t.id === 'ephemeral',
      )!.pid;
      await b.kill();
      process.kill(ephemeral, 'SIGKILL');
      // as a berthd killed before its first ADD of a container leaves it: a netns, no task
      const ghost = join(b.state, 'net', 'default', 'ghost');
      mkdirSync(ghost, { recursive: true });
      createNetns(join(ghost, 'netns'));
      await b.restart();
      expect(existsSync(ghost)).toBe(false);
      expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(ghost);
      // its exit is found at start-up and the --rm container removed: its network goes with its task
      expect(
        await eventually(
          () => leftovers(b, 'default', 'ephemeral'),
          (l) => !l.netnsDir && l.rules.length === 0,
        ),
      ).toMatchObject({ netnsDir: false, rules: [] });
      expect(sh('curl', ['-sS', '--max-time', '5', `http://127.0.0.1:${port}/hello.txt`]).stdout).toBe('hello from the run image\n');
      // its port is still reserved by the restarted daemon
      const clash = runDetached('usurper', ['-p', `${port}:80`], ['sleep', '1']);
      expect(clash.stderr).toContain(`host port 0.0.0.0:${port}/tcp is already published by container default/survivor`);
      remove('usurper', 'survivor');
      expect(leftovers(b, 'default', 'survivor')).toEqual(noLeftovers);
    },
  );

  itAsRoot('a container SIGKILLed from outside, and a start that fails, leave nothing', async () => {
    const port = await freePort();
    expect(runDetached('victim', ['--rm', '-p', `${port}:80`], ['sleep', '600']).code).toBe(0);
    const pid = (JSON.parse(berth(['tasks', 'ls', '--format', 'json']).stdout) as Array<{ id: string; pid: number }>).find((t) => t.id === 'victim')!.pid;
    process.kill(pid, 'SIGKILL');
    const gone = await eventually(
      () => leftovers(b, 'default', 'victim'),
      (l) => !l.netnsDir && l.veths.length === 0,
    );
    expect(gone).toEqual(noLeftovers);

    const failed = berth(['run', '--rm', '-p', `${port}:80`, image, 'broken', '/no/such/command']);
    expect(failed.code).not.toBe(0);
    expect(failed.stderr).toMatch(/no such file or directory/);
    expect(leftovers(b, 'default', 'broken')).toEqual(noLeftovers);
    expect(berth(['containers', 'ls', '-q']).stdout).not.toMatch(/^broken$/m);
  });

  itAsRoot('bad input is a clear error that makes nothing: an unknown network, a port published already or held by a host process, an invalid -p', async () => {
    const unknown = berth(['run', '--rm', '--net', 'nope', image, 'bad1', 'true']);
    expect(unknown.stderr).toContain('network "nope" not found');
    expect(unknown.code).not.toBe(0);

    const port = await freePort();
    expect(runDetached('holder', ['-p', `${port}:80`], ['sleep', '600']).code).toBe(0);
    const taken = berth(['run', '--rm', '-p', `127.0.0.1:${port}:81`, image, 'bad2', 'true']);
    expect(taken.stderr).toContain(`host port 0.0.0.0:${port}/tcp is already published by container default/holder`);
    expect(taken.code).not.toBe(0);
    remove('holder');

    const listener = createServer().listen({ host: '127.0.0.1', port });
    await once(listener, 'listening');
    try {
      const held = berth(['run', '--rm', '-p', `${port}:80`, image, 'bad3', 'true']);
      expect(held.stderr).toContain(`host port 0.0.0.0:${port}/tcp is in use by a process on the host`);
      expect(held.code).not.toBe(0);
    } finally {
      listener.close();
    }

    const invalid = berth(['run', '--rm', '-p', '80', image, 'bad4', 'true']);
    expect(invalid.stderr).toContain('invalid -p "80": expected a host port and a container port');
    expect(invalid.code).not.toBe(0);

    for (const id of ['bad1', 'bad2', 'bad3', 'bad4', 'holder']) expect(leftovers(b, 'default', id)).toEqual(noLeftovers);
    expect(berth(['containers', 'ls', '-q']).stdout).toBe('');
  });
});

describeAsRoot('berth run on a network whose CNI plugin fails', [installed('iptables')], () => {
  let b: Berthd;
  let dir: string;
  let image: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-cni-fail-'));
    mkdirSync(join(dir, 'bin'));
    mkdirSync(join(dir, 'net.d'));
    // a plugin that fails every ADD the way the CNI spec says (an error object on stdout, exit 1)
    writeFileSync(
      join(dir, 'bin', 'failing'),
      '#!/bin/sh\ncat >/dev/null\n[ "$CNI_COMMAND" = ADD ] || exit 0\necho \'{"cniVersion":"1.0.0","code":100,"msg":"no luck today","details":"the fake plugin always fails"}\'\nexit 1\n',
      { mode: 0o755 },
    );
    const subnet = `10.${200 + Math.floor(Math.random() * 56)}.${Math.floor(Math.random() * 256)}.0/24`;
    writeFileSync(
      join(dir, 'net.d', '50-flaky.conflist'),
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'flaky',
        plugins: [
          {
            type: 'bridge',
            bridge: `bf${String(Math.floor(Math.random() * 1e8)).padStart(8, '0')}`,
            ipam: { type: 'host-local', ranges: [[{ subnet }]], dataDir: join(dir, 'ipam') },
          },
          { type: 'failing' },
        ],
      }),
    );
    const config = join(dir, 'config.toml');
    writeFileSync(config, `version = 2\n${networkConfigToml(uniqueTestNetwork(), join(dir, 'net.d'))}bin_dirs = ["/usr/lib/cni", "${join(dir, 'bin')}"]\n`);
    b = await startBerthd(['--config', config]);
    image = await loadRunImage(b);
  }, 60_000);

  afterAll(async () => {
    const flaky = dir && JSON.parse(readFileSync(join(dir, 'net.d', '50-flaky.conflist'), 'utf8')).plugins[0].bridge;
    await b?.cleanup();
    if (flaky) sh('ip', ['link', 'delete', 'dev', flaky]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  itAsRoot("the error names the plugin and its message; the bridge plugin's ADD is undone", () => {
    const r = b.berth(['run', '--rm', '--net', 'flaky', image, 'unlucky', 'true']);
    expect(r.stderr).toContain('cannot attach container unlucky to network flaky');
    expect(r.stderr).toContain('no luck today');
    expect(r.code).not.toBe(0);
    const bridge = JSON.parse(readFileSync(join(dir, 'net.d', '50-flaky.conflist'), 'utf8')).plugins[0].bridge;
    expect(bridgePorts(bridge)).toEqual([]);
    expect(readdirSync(join(dir, 'ipam', 'flaky')).filter((f) => f !== 'lock' && !f.startsWith('last_reserved_ip'))).toEqual([]);
    expect(readdirSync(join(b.state, 'net'))).toEqual([]);
    expect(b.berth(['containers', 'ls', '-q']).stdout).toBe('');
  });
});

describeAsRoot('test daemons killed with containers running', [installed('iptables')], () => {
  itAsRoot("the harness's cleanup DELs their networks: no rule, veth or netns is left", async () => {
    const b = await startBerthd();
    try {
      const image = await loadRunImage(b);
      const port = await freePort();
      expect(b.berth(['run', '-d', '--null-io', '-p', `${port}:80`, image, 'abandoned', 'sleep', '600']).code).toBe(0);
      expect(containerRules('default-abandoned').length).toBeGreaterThan(0);
    } finally {
      await b.cleanup();
    }
    expect(containerRules('default-abandoned').join('\n')).toBe('');
    expect(bridgePorts(b.network.bridge)).toEqual([]);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(b.state);
  });
});
