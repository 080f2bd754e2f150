import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { addressIn, freePort, freeUdpPort, leftovers, netnsOf, noLeftovers, sh, udpEcho, udpRoundTrip } from './support/attach.ts';
import { type Berthd, startBerthd } from './support/harness.ts';
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
    const live = leftovers(b, 'default', 'web');
    expect(live).toMatchObject({ leases: [expect.stringMatching(/^bridge\//)], veths: [expect.any(String)], netnsDir: true });
    expect(live.rules.length).toBeGreaterThan(0);
    remove('web');
    expect(leftovers(b, 'default', 'web')).toEqual(noLeftovers);
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
});
