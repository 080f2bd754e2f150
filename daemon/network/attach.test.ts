import { existsSync, promises as fs, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BerthError, notFound } from '../../core/errors.ts';
import { specTypeUrl } from '../../core/spec/names.ts';
import { encodeNetworkRequest, type NetworkRequest } from '../../core/spec/network.ts';
import type { Spec } from '../../core/spec/types.ts';
import { createLogger } from '../log.ts';
import { Attacher, type AttacherSettings } from './attach.ts';
import type { CniAttachment, CniOps, CniResult, Network, NetworkConfigList } from './cni/types.ts';

/** A CniOps that records calls and hands out 10.9.0.N addresses; `failOn` makes ADD or DEL of a network fail. */
class FakeCni implements CniOps {
  calls: string[] = [];
  failOn: { add?: string; del?: string } = {};
  /** how many DELs fail before they succeed again */
  delFailures = 0;
  private next = 2;
  async add(list: NetworkConfigList, at: CniAttachment): Promise<CniResult> {
    this.calls.push(
      `ADD ${list.name} ${at.ifName} ${at.containerId}${at.args ? ` ${JSON.stringify(at.args)}` : ''}${at.capabilityArgs ? ` ${JSON.stringify(at.capabilityArgs)}` : ''}`,
    );
    if (this.failOn.add === list.name) throw new BerthError('FailedPrecondition', 'plugin bridge failed: boom');
    if (at.ifName === 'lo') return { cniVersion: '1.0.0', interfaces: [{ name: 'lo', sandbox: at.netns }] };
    return {
      cniVersion: '1.0.0',
      interfaces: [{ name: at.ifName, mac: '02:00:00:00:00:01', sandbox: at.netns }],
      ips: [{ address: `10.9.0.${this.next++}/24`, gateway: '10.9.0.1', interface: 0 }],
    };
  }
  async check(): Promise<void> {}
  async del(list: NetworkConfigList, at: CniAttachment, prev?: CniResult): Promise<void> {
    this.calls.push(`DEL ${list.name} ${at.ifName} netns=${at.netns ? 'yes' : 'no'} prev=${prev ? 'yes' : 'no'}`);
    if (this.failOn.del === list.name) throw new Error('plugin failed on DEL');
    if (this.delFailures > 0) {
      this.delFailures--;
      throw new Error('iptables: Resource temporarily unavailable');
    }
  }
}

const network = (name: string): Network => ({
  name,
  list: { cniVersion: '1.0.0', name, plugins: [{ type: 'bridge' }] },
  path: `/x/${name}.conflist`,
  owner: 'berth',
  subnets: ['10.9.0.0/24'],
  default: name === 'bridge',
  labels: {},
});

const baseSpec: Spec = {
  ociVersion: '1.1.0',
  process: { args: ['sh'], cwd: '/', user: { uid: 0, gid: 0 } },
  root: { path: 'rootfs' },
  mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }],
  linux: { namespaces: [{ type: 'pid' }, { type: 'uts' }, { type: 'network' }] },
};

describe('Attacher (fake CNI, fake netns)', () => {
  let dir: string;
  let cni: FakeCni;
  let busyPorts: Set<number>;

  const attacher = (extra: Partial<AttacherSettings> = {}) =>
    new Attacher({
      dir: join(dir, 'net'),
      networks: { get: async (name) => (['bridge', 'back'].includes(name) ? network(name) : Promise.reject(notFound(`network ${name} not found`))) },
      cni,
      netns: { create: (p) => writeFileSync(p, '', { flag: 'wx' }), remove: (p) => rmSync(p, { force: true }) },
      log: createLogger('error'),
      hostResolvConf: join(dir, 'resolv.conf'),
      hostHosts: join(dir, 'hosts'),
      hostPortFree: async (p) => !busyPorts.has(p.hostPort),
      ...extra,
    });

  const container = (id: string, request?: NetworkRequest, spec: Spec = baseSpec) => ({
    id,
    labels: (request ? { 'io.berth/network': encodeNetworkRequest(request) } : {}) as Record<string, string>,
    runtime: { name: 'io.containerd.runc.v2' },
    spec: { type_url: specTypeUrl, value: Buffer.from(JSON.stringify(spec)) },
  });
  const bridge = (extra: Partial<NetworkRequest> = {}): NetworkRequest => ({ mode: 'bridge', networks: ['bridge'], ports: [], ...extra });
  const specOf = (bytes: Uint8Array | undefined) => JSON.parse(Buffer.from(bytes!).toString()) as Spec;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'attach-'));
    writeFileSync(join(dir, 'resolv.conf'), 'nameserver 127.0.0.53\nsearch corp.example\noptions edns0\n');
    writeFileSync(join(dir, 'hosts'), '127.0.0.1 localhost\n10.1.1.1 buildhost\n');
    cni = new FakeCni();
    busyPorts = new Set();
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('leaves a container without the label alone', async () => {
    expect(await attacher().prepare('default', container('c1'))).toBeUndefined();
    expect(cni.calls).toEqual([]);
    expect(existsSync(join(dir, 'net'))).toBe(false);
  });

  it('attaches a bridge container: netns (its lo up, no loopback plugin), eth0, eth1, files mounted, ports and --ip on the first network', async () => {
    const a = attacher();
    const request = bridge({
      networks: ['bridge', 'back'],
      ports: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }],
      ip: '10.9.0.50',
      extraHosts: ['db:10.0.0.5'],
    });
    const spec = specOf(await a.prepare('default', container('web', request)));
    const cdir = join(dir, 'net', 'default', 'web');
    expect(spec.linux?.namespaces?.find((n) => n.type === 'network')?.path).toBe(join(cdir, 'netns'));
    expect(spec.hostname).toBe('web');
    expect(spec.mounts?.slice(1)).toEqual(
      ['hosts', 'hostname', 'resolv.conf'].map((f) => ({ destination: `/etc/${f}`, type: 'bind', source: join(cdir, f), options: ['rbind', 'ro'] })),
    );
    expect(cni.calls).toEqual([
      'ADD bridge eth0 default-web [["IP","10.9.0.50"]] {"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]}',
      'ADD back eth1 default-web',
    ]);
    expect(readFileSync(join(cdir, 'hosts'), 'utf8')).toContain('10.0.0.5\tdb\n10.9.0.2\tweb\n');
    expect(readFileSync(join(cdir, 'hostname'), 'utf8')).toBe('web\n');
    // the host's loopback resolver is useless in the container's netns: Docker's fallback
    expect(readFileSync(join(cdir, 'resolv.conf'), 'utf8')).toBe('nameserver 8.8.8.8\nnameserver 8.8.4.4\nsearch corp.example\noptions edns0\n');
    expect(a.get('default', 'web')).toEqual({
      namespace: 'default',
      container: 'web',
      networks: [
        { name: 'bridge', ifName: 'eth0', ips: ['10.9.0.2/24'], mac: '02:00:00:00:00:01', gateway: '10.9.0.1' },
        { name: 'back', ifName: 'eth1', ips: ['10.9.0.3/24'], mac: '02:00:00:00:00:01', gateway: '10.9.0.1' },
      ],
      ports: request.ports,
    });
    expect(a.usersOf('back')).toEqual(['default/web']);

    cni.calls = [];
    await a.released('default', 'web');
    expect(cni.calls).toEqual(['DEL back eth1 netns=yes prev=yes', 'DEL bridge eth0 netns=yes prev=yes']);
    expect(existsSync(join(dir, 'net', 'default'))).toBe(false);
    expect(a.get('default', 'web')).toBeUndefined();
  });

  it('keeps what the spec mounts itself, and uses --dns, --dns-search and --dns-option', async () => {
    const spec = { ...baseSpec, hostname: 'named', mounts: [{ destination: '/etc/hosts/', type: 'bind', source: '/srv/hosts' }] };
    const request: NetworkRequest = { mode: 'none', networks: [], ports: [], dns: ['1.1.1.1'], dnsSearch: ['a.example'], dnsOptions: ['ndots:2'] };
    const out = specOf(await attacher().prepare('ns', container('c', request, spec)));
    expect(out.mounts?.map((m) => m.destination)).toEqual(['/etc/hosts/', '/etc/hostname', '/etc/resolv.conf']);
    expect(out.linux?.namespaces?.find((n) => n.type === 'network')?.path).toBeUndefined();
    expect(cni.calls).toEqual([]);
    const cdir = join(dir, 'net', 'ns', 'c');
    expect(readFileSync(join(cdir, 'resolv.conf'), 'utf8')).toBe('nameserver 1.1.1.1\nsearch a.example\noptions ndots:2\n');
    expect(readFileSync(join(cdir, 'hostname'), 'utf8')).toBe('named\n');
    expect(readFileSync(join(cdir, 'hosts'), 'utf8')).not.toContain('named');
  });

  it("host mode: no network namespace, copies of the host's files", async () => {
    const out = specOf(await attacher().prepare('ns', container('h', { mode: 'host', networks: [], ports: [], extraHosts: ['x:10.2.2.2'] })));
    expect(out.linux?.namespaces?.map((n) => n.type)).toEqual(['pid', 'uts']);
    const cdir = join(dir, 'net', 'ns', 'h');
    expect(readFileSync(join(cdir, 'hosts'), 'utf8')).toBe('127.0.0.1 localhost\n10.1.1.1 buildhost\n10.2.2.2\tx\n');
    expect(readFileSync(join(cdir, 'resolv.conf'), 'utf8')).toBe('nameserver 127.0.0.53\nsearch corp.example\noptions edns0\n');
  });

  it('refuses a port another container publishes, or a host process holds, naming the holder', async () => {
    const a = attacher();
    const port = { hostPort: 8080, containerPort: 80, protocol: 'tcp' as const };
    await a.prepare('default', container('one', bridge({ ports: [port] })));
    const err = await a.prepare('other', container('two', bridge({ ports: [{ ...port, hostIP: '127.0.0.1', containerPort: 81 }] }))).catch((e) => e);
    expect(err).toMatchObject({ code: 'FailedPrecondition', message: 'host port 0.0.0.0:8080/tcp is already published by container default/one' });
    // the same port number over udp is another port
    await a.prepare('default', container('three', bridge({ ports: [{ ...port, protocol: 'udp' }] })));
    busyPorts.add(9090);
    const held = await a.prepare('default', container('four', bridge({ ports: [{ ...port, hostPort: 9090 }] }))).catch((e) => e);
    expect(held).toMatchObject({ code: 'FailedPrecondition', message: 'host port 0.0.0.0:9090/tcp is in use by a process on the host' });
    expect(existsSync(join(dir, 'net', 'default', 'four'))).toBe(false);
    // released: the port is free again
    await a.released('default', 'one');
    await a.prepare('other', container('two', bridge({ ports: [port] })));
  });

  it('two containers asking for one port at the same time: one gets it', async () => {
    // the host check takes a while: both prepares are past their own checks before either ADDs
    const a = attacher({ hostPortFree: () => new Promise((r) => setTimeout(() => r(true), 20)) });
    const port = { hostPort: 8443, containerPort: 443, protocol: 'tcp' as const };
    const results = await Promise.allSettled([
      a.prepare('default', container('x', bridge({ ports: [port] }))),
      a.prepare('default', container('y', bridge({ ports: [port] }))),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected']);
    expect((results[1] as PromiseRejectedResult).reason).toMatchObject({
      code: 'FailedPrecondition',
      message: expect.stringContaining('published by container default/x'),
    });
    expect(a.held()).toEqual([{ namespace: 'default', id: 'x' }]);
  });

  it('undoes everything when an ADD fails, keeping the error and its code', async () => {
    cni.failOn.add = 'back';
    const a = attacher();
    const err = await a.prepare('default', container('c', bridge({ networks: ['bridge', 'back'] }))).catch((e) => e);
    expect(err).toMatchObject({ code: 'FailedPrecondition', message: 'cannot attach container c to network back: plugin bridge failed: boom' });
    expect(cni.calls.slice(2)).toEqual(['DEL back eth1 netns=yes prev=no', 'DEL bridge eth0 netns=yes prev=yes']);
    expect(existsSync(join(dir, 'net', 'default'))).toBe(false);
    expect(a.held()).toEqual([]);
  });

  it('an unknown network is NotFound and makes nothing', async () => {
    const err = await attacher()
      .prepare('default', container('c', bridge({ networks: ['nope'] })))
      .catch((e) => e);
    expect(err).toMatchObject({ code: 'NotFound', message: 'network nope not found' });
    expect(cni.calls).toEqual([]);
    expect(existsSync(join(dir, 'net', 'default'))).toBe(false);
  });

  it('a bad label is InvalidArgument', async () => {
    const c = { ...container('c'), labels: { 'io.berth/network': '{"mode":"bridge","networks":[]}' } };
    expect(
      await attacher()
        .prepare('default', c)
        .catch((e) => e),
    ).toMatchObject({ code: 'InvalidArgument' });
  });

  it('a failed DEL keeps the attachment; a restarted attacher finds it and releases it with what ADD used', async () => {
    const a = attacher();
    await a.prepare('default', container('c', bridge({ ports: [{ hostPort: 7070, containerPort: 80, protocol: 'tcp' }] })));
    cni.failOn.del = 'bridge';
    await a.released('default', 'c');
    expect(existsSync(join(dir, 'net', 'default', 'c', 'attachment.json'))).toBe(true);

    // a restart: the network's conflist changed meanwhile, but DEL uses the one ADD used
    const b = attacher({ networks: { get: async () => Promise.reject(new Error('not asked')) } });
    await b.load();
    expect(b.held()).toEqual([{ namespace: 'default', id: 'c' }]);
    expect(await b.prepare('x', container('d', bridge({ ports: [{ hostPort: 7070, containerPort: 80, protocol: 'tcp' }] }))).catch((e) => e)).toMatchObject({
      code: 'FailedPrecondition',
    });
    cni.failOn = {};
    cni.calls = [];
    await b.released('default', 'c');
    expect(cni.calls).toEqual(['DEL bridge eth0 netns=yes prev=yes']);
    expect(await fs.readdir(join(dir, 'net'))).toEqual([]);
    expect(b.held()).toEqual([]);
  });

  it('a DEL that fails for a moment is tried again', async () => {
    const a = attacher();
    await a.prepare('default', container('c', bridge()));
    cni.calls = [];
    cni.delFailures = 2;
    await a.released('default', 'c');
    expect(cni.calls).toEqual(Array(3).fill('DEL bridge eth0 netns=yes prev=yes'));
    expect(a.held()).toEqual([]);
    expect(await fs.readdir(join(dir, 'net'))).toEqual([]);
  });

  it('a directory without attachment.json (berthd died before the first ADD) is swept', async () => {
    await fs.mkdir(join(dir, 'net', 'default', 'c'), { recursive: true });
    const a = attacher();
    await a.load();
    expect(a.held()).toEqual([{ namespace: 'default', id: 'c' }]);
    await a.released('default', 'c');
    expect(await fs.readdir(join(dir, 'net'))).toEqual([]);
  });
});
