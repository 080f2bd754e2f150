// Pod sandboxes through berthd's CRI, as the kubelet and crictl drive them: a grpc-js client built
// from the CRI protos, a pause image of the test's own (busybox-static; its pid 1 serves /work over
// HTTP and exits on SIGTERM) and a CNI config of the test's own (a bridge and subnet no other test
// uses) in a temporary cni.conf_dir. A pod gets a pause only when its containers share a pid
// namespace (pid POD); the kubelet's usual pod (pid CONTAINER) is held by namespace files alone.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { bridgePorts, containerRules, freePort } from './support/attach.ts';
import { type CriBerthd, cniBinDir, mountsUnder, startCriBerthd } from './support/cri.ts';
import type { Berthd } from './support/harness.ts';
import type { TestNetwork } from './support/network.ts';
import { describeAsRoot, installed } from './support/root.ts';
import { buildRunImage } from './support/run-image.ts';

interface PodSandbox {
  id: string;
  metadata: { name: string; uid: string; namespace: string; attempt: number };
  state: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}
interface Status extends PodSandbox {
  network: { ip: string } | null;
}

const pauseImage = 'berth.test/pause:1';

describeAsRoot(
  'CRI pod sandboxes (runtime.v1 over grpc-js)',
  [installed(join(cniBinDir, 'bridge')), installed('iptables-save'), installed('curl'), installed('nsenter')],
  () => {
    let cri: CriBerthd;
    let daemon: Berthd;
    let dir: string;
    let net: TestNetwork;
    let netName: string;
    const made: string[] = [];

    const call = <T>(method: string, req: unknown): Promise<T> => cri.call<T>(method, req);
    const status = async (id: string) => {
      const r = await call<{ status: Status; info: Record<string, string> }>('PodSandboxStatus', { pod_sandbox_id: id, verbose: true });
      return { ...r.status, pid: (JSON.parse(r.info.info!) as { pid: number }).pid };
    };
    const list = async (filter: unknown = null) => (await call<{ items: PodSandbox[] }>('ListPodSandbox', { filter })).items;
    const runPod = async (name: string, extra: Record<string, unknown> = {}) => {
      const config = {
        metadata: { name, uid: `uid-${name}`, namespace: 'berth-test', attempt: 0 },
        hostname: `${name}-host`,
        log_directory: join(dir, 'logs', name),
        labels: { app: name, tier: 'test' },
        annotations: { note: `pod ${name}` },
        linux: { security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
        ...extra,
      };
      const { pod_sandbox_id: id } = await call<{ pod_sandbox_id: string }>('RunPodSandbox', { config, runtime_handler: '' });
      made.push(id);
      return id;
    };
    const inPod = (pid: number, args: string[]) => spawnSync('nsenter', ['-t', String(pid), ...args], { encoding: 'utf8' });
    const withPause = (network = 'POD') => ({ linux: { security_context: { namespace_options: { network, pid: 'POD', ipc: 'POD' } } } });
    const stateOf = (id: string) => join(daemon.state, 'io.containerd.grpc.v1.cri', 'sandboxes', id);
    const monitorsOf = (id: string) => spawnSync('pgrep', ['-f', `berth-monitor.*${id}`], { encoding: 'utf8' }).stdout.trim();
    const netnsFiles = () => (existsSync(join(daemon.state, 'netns')) ? readdirSync(join(daemon.state, 'netns')) : []);
    const ipamLeases = () => (existsSync(join(dir, 'ipam', netName)) ? readdirSync(join(dir, 'ipam', netName)).filter((f) => /^\d/.test(f)) : []);
    const shmOf = (id: string) => join(daemon.state, 'io.containerd.grpc.v1.cri', 'sandboxes', id, 'shm');
    const leftovers = (id: string) => ({ veths: bridgePorts(net.bridge), rules: containerRules(id), leases: ipamLeases() });

    beforeAll(async () => {
      const pause = buildRunImage({ name: pauseImage, config: { Cmd: ['/bin/sh', '-c', 'trap "exit 0" TERM; httpd -f -p 8080 -h /work & wait'] } });
      cri = await startCriBerthd({ prefix: 'berth-cri-pod-', pauseImage, images: [pause], portmap: true });
      ({ daemon, dir, net, netName } = cri);
      // a later file by name is not the node's network
      writeFileSync(join(dir, 'net.d', '20-other.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'other', plugins: [{ type: 'no-such-plugin' }] }));
    }, 60_000);

    afterAll(() => cri?.cleanup(made));

    it('RunPodSandbox with pid POD: the pause runs in a netns with an address in the node network, its hostname, DNS config and a hostPort on 127.0.0.1', async () => {
      const port = await freePort();
      const id = await runPod('web', {
        ...withPause(),
        dns_config: { servers: ['10.0.0.10'], searches: ['berth-test.svc.cluster.local', 'cluster.local'], options: ['ndots:5'] },
        port_mappings: [{ protocol: 'TCP', container_port: 8080, host_port: port, host_ip: '' }],
      });
      expect(id).toMatch(/^[0-9a-f]{64}$/);
      const s = await status(id);
      expect(s).toMatchObject({ id, state: 'SANDBOX_READY', metadata: { name: 'web', uid: 'uid-web', namespace: 'berth-test' }, labels: { app: 'web' } });
      expect(s.annotations).toEqual({ note: 'pod web' });
      const prefix = net.subnet.split('.').slice(0, 3).join('.');
      expect(s.network?.ip.startsWith(`${prefix}.`)).toBe(true);
      expect(inPod(s.pid, ['-n', 'ip', '-4', '-o', 'addr', 'show', 'eth0']).stdout).toContain(`${s.network?.ip}/24`);
      expect(inPod(s.pid, ['-u', 'hostname']).stdout).toBe('web-host\n');
      expect(readFileSync(`/proc/${s.pid}/root/etc/resolv.conf`, 'utf8')).toBe(
        'search berth-test.svc.cluster.local cluster.local\nnameserver 10.0.0.10\noptions ndots:5\n',
      );
      // the pod's /dev/shm is a tmpfs of the sandbox's, which its containers will share
      writeFileSync(join(shmOf(id), 'from-host'), 'shared\n');
      expect(readFileSync(`/proc/${s.pid}/root/dev/shm/from-host`, 'utf8')).toBe('shared\n');
      // restrict_oom_score_adj: clamped to berthd's own instead of -998
      expect(readFileSync(`/proc/${s.pid}/oom_score_adj`, 'utf8').trim()).toBe(readFileSync(`/proc/${daemon.pid()}/oom_score_adj`, 'utf8').trim());
      // its IPC and UTS namespaces are the files the pod holds them by
      expect(statSync(`/proc/${s.pid}/ns/ipc`).ino).toBe(statSync(join(stateOf(id), 'ipc')).ino);
      expect(statSync(`/proc/${s.pid}/ns/uts`).ino).toBe(statSync(join(stateOf(id), 'uts')).ino);
      const got = spawnSync('curl', ['-sS', '--max-time', '5', `http://127.0.0.1:${port}/hello.txt`], { encoding: 'utf8' });
      expect(got.stderr).toBe('');
      expect(got.stdout).toBe('hello from the run image\n');
      await call('RemovePodSandbox', { pod_sandbox_id: id });
    });

    it('RunPodSandbox with pid CONTAINER: no pause and no monitor; the namespaces are held by files (lo up, the hostname, the sysctls); READY until stopped', async () => {
      const id = await runPod('nopause', {
        linux: {
          sysctls: { 'net.ipv4.ip_unprivileged_port_start': '79', 'kernel.shm_rmid_forced': '1' },
          security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } },
        },
      });
      const s = await status(id);
      expect(s).toMatchObject({ state: 'SANDBOX_READY', pid: 0 });
      expect(monitorsOf(id)).toBe('');
      const k8s = daemon.client('k8s.io');
      expect((await k8s.tasks.List({ filter: '' })).tasks.map((t) => t.id)).not.toContain(id);
      const [netns] = netnsFiles();
      const nsenter = (args: string[]) => spawnSync('nsenter', args, { encoding: 'utf8' }).stdout;
      const netFile = join(daemon.state, 'netns', netns!);
      expect(nsenter([`--net=${netFile}`, 'ip', '-4', '-o', 'addr', 'show', 'eth0'])).toContain(`${s.network?.ip}/24`);
      expect(nsenter([`--net=${netFile}`, 'ip', '-o', 'link', 'show', 'lo'])).toContain('UP');
      expect(nsenter([`--net=${netFile}`, 'cat', '/proc/sys/net/ipv4/ip_unprivileged_port_start'])).toBe('79\n');
      expect(nsenter([`--uts=${join(stateOf(id), 'uts')}`, 'hostname'])).toBe('nopause-host\n');
      expect(nsenter([`--ipc=${join(stateOf(id), 'ipc')}`, 'cat', '/proc/sys/kernel/shm_rmid_forced'])).toBe('1\n');
      // the host's own are untouched
      expect(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8')).not.toBe('79\n');
      // a file that no longer holds its namespace (as after a reboot, had the state dir survived): NOTREADY
      expect(spawnSync('umount', [join(stateOf(id), 'uts')]).status).toBe(0);
      expect((await status(id)).state).toBe('SANDBOX_NOTREADY');

      await call('StopPodSandbox', { pod_sandbox_id: id });
      expect((await status(id)).state).toBe('SANDBOX_NOTREADY');
      expect(existsSync(stateOf(id))).toBe(false);
      expect(netnsFiles()).toEqual([]);
      expect(mountsUnder(daemon.state)).toEqual([]);
      await call('RemovePodSandbox', { pod_sandbox_id: id });
    });

    it("a sysctl outside the pod's namespaces, or of one it shares with the node, or a hostname too long, is refused before anything is made", async () => {
      const refused = async (name: string, sysctls: Record<string, string>, network = 'POD') => {
        const config = {
          metadata: { name, uid: `uid-${name}`, namespace: 'berth-test', attempt: 0 },
          linux: { sysctls, security_context: { namespace_options: { network, pid: 'CONTAINER', ipc: 'POD' } } },
        };
        return call('RunPodSandbox', { config }).then(
          () => undefined,
          (e: grpc.ServiceError) => e,
        );
      };
      const host = await refused('sysctl-host', { 'kernel.pid_max': '100' });
      expect(host?.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(host?.details).toMatch(/kernel.pid_max.*not in a separate kernel namespace/);
      const shared = await refused('sysctl-shared', { 'net.ipv4.ip_forward': '0' }, 'NODE');
      expect(shared?.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(shared?.details).toMatch(/shares the host's net namespace/);
      const long = await call('RunPodSandbox', {
        config: { metadata: { name: 'sysctl-host-long', uid: 'uid-long', namespace: 'berth-test', attempt: 0 }, hostname: 'h'.repeat(65) },
      }).then(
        () => undefined,
        (e: grpc.ServiceError) => e,
      );
      expect(long?.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(long?.details).toMatch(/at most 64 bytes/);
      const bad = await refused('sysctl-bad', { 'net.ipv4.ip_unprivileged_port_start': 'many' });
      expect(bad?.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(bad?.details).toMatch(/cannot set sysctl net.ipv4.ip_unprivileged_port_start/);
      expect((await list()).map((p) => p.metadata.name).filter((n) => n.startsWith('sysctl-'))).toEqual([]);
      expect(netnsFiles()).toEqual([]);
      expect(mountsUnder(daemon.state)).toEqual([]);
      expect(bridgePorts(net.bridge)).toEqual([]);
    });

    it('ListPodSandbox: every pod, or those an id prefix, a state or a label selector picks', async () => {
      const a = await runPod('list-a');
      const b = await runPod('list-b', { labels: { app: 'list-b', tier: 'other' } });
      await call('StopPodSandbox', { pod_sandbox_id: b });
      const ids = async (filter: unknown) => (await list(filter)).map((p) => p.id).sort();
      expect(await ids(null)).toEqual(expect.arrayContaining([a, b]));
      expect(await ids({ id: a.slice(0, 12) })).toEqual([a]);
      expect(await ids({ state: { state: 'SANDBOX_NOTREADY' } })).toEqual([b]);
      expect(await ids({ state: { state: 'SANDBOX_READY' }, label_selector: { app: 'list-a' } })).toEqual([a]);
      expect(await ids({ label_selector: { tier: 'other' } })).toEqual([b]);
      expect(await ids({ label_selector: { tier: 'nope' } })).toEqual([]);
      for (const id of [a, b]) await call('RemovePodSandbox', { pod_sandbox_id: id });
      expect(await ids({ label_selector: { tier: 'other' } })).toEqual([]);
    });

    it('StopPodSandbox kills the pause and tears the network down; RemovePodSandbox leaves nothing, and is fine twice', async () => {
      const port = await freePort();
      const id = await runPod('gone', { ...withPause(), port_mappings: [{ protocol: 'TCP', container_port: 8080, host_port: port, host_ip: '' }] });
      const { pid } = await status(id);
      expect(containerRules(id).length).toBeGreaterThan(0);
      expect(bridgePorts(net.bridge).length).toBe(1);
      expect(ipamLeases().length).toBe(1);
      expect(netnsFiles().length).toBe(1);
      await call('StopPodSandbox', { pod_sandbox_id: id });
      expect(existsSync(`/proc/${pid}`)).toBe(false);
      expect((await status(id)).state).toBe('SANDBOX_NOTREADY');
      expect(leftovers(id)).toEqual({ veths: [], rules: [], leases: [] });
      expect(netnsFiles()).toEqual([]);
      expect(mountsUnder(daemon.state)).toEqual([]);
      await call('StopPodSandbox', { pod_sandbox_id: id });
      await call('RemovePodSandbox', { pod_sandbox_id: id });
      await call('RemovePodSandbox', { pod_sandbox_id: id });
      const err = await call('PodSandboxStatus', { pod_sandbox_id: id }).then(
        () => undefined,
        (e: grpc.ServiceError) => e,
      );
      expect(err?.code).toBe(grpc.status.NOT_FOUND);
      const k8s = daemon.client('k8s.io');
      expect((await k8s.containers.List({ filters: [] })).containers.map((c) => c.id)).not.toContain(id);
      expect(existsSync(join(daemon.root, 'io.containerd.grpc.v1.cri', 'sandboxes', id))).toBe(false);
    });

    it('hostNetwork: the pause shares the node network namespace; no netns, no CNI, no IP', async () => {
      const id = await runPod('hostnet', withPause('NODE'));
      const s = await status(id);
      expect(s.state).toBe('SANDBOX_READY');
      expect(s.network?.ip).toBe('');
      expect(readlinkSync(`/proc/${s.pid}/ns/net`)).toBe(readlinkSync('/proc/self/ns/net'));
      expect(readlinkSync(`/proc/${s.pid}/ns/uts`)).toBe(readlinkSync('/proc/self/ns/uts'));
      expect(existsSync(join(stateOf(id), 'uts'))).toBe(false);
      expect(existsSync(shmOf(id))).toBe(true);
      expect(netnsFiles()).toEqual([]);
      expect(bridgePorts(net.bridge)).toEqual([]);
      await call('RemovePodSandbox', { pod_sandbox_id: id });
      expect(existsSync(`/proc/${s.pid}`)).toBe(false);
    });

    it('a CNI ADD that fails (while the pause starts beside it) fails RunPodSandbox and leaves nothing: no record, pause, netns, veth or lease', async () => {
      const conf = join(dir, 'net.d', '10-pods.conflist');
      const good = readFileSync(conf, 'utf8');
      const conflist = JSON.parse(good) as { plugins: unknown[] };
      writeFileSync(conf, JSON.stringify({ ...conflist, plugins: [...conflist.plugins, { type: 'no-such-plugin' }] }));
      const paused = () => spawnSync('pgrep', ['-f', 'httpd -f -p 8080 -h /work'], { encoding: 'utf8' }).stdout.trim();
      const before = paused();
      try {
        const err = await call('RunPodSandbox', { config: { metadata: { name: 'badnet', uid: 'uid-badnet', namespace: 'berth-test', attempt: 0 } } }).then(
          () => undefined,
          (e: grpc.ServiceError) => e,
        );
        expect(err?.message).toMatch(/no-such-plugin/);
      } finally {
        writeFileSync(conf, good);
      }
      expect((await list()).map((p) => p.metadata.name)).not.toContain('badnet');
      expect(paused()).toBe(before);
      expect(mountsUnder(daemon.state)).toEqual([]);
      expect(netnsFiles()).toEqual([]);
      expect(bridgePorts(net.bridge)).toEqual([]);
      expect(ipamLeases()).toEqual([]);
    });

    it('a pod name (name, namespace, uid, attempt) is taken until its sandbox is removed; StopPodSandbox of a removed pod is fine', async () => {
      const id = await runPod('twice');
      const err = await call('RunPodSandbox', { config: { metadata: { name: 'twice', uid: 'uid-twice', namespace: 'berth-test', attempt: 0 } } }).then(
        () => undefined,
        (e: grpc.ServiceError) => e,
      );
      expect(err?.code).toBe(grpc.status.ALREADY_EXISTS);
      await call('RemovePodSandbox', { pod_sandbox_id: id });
      await call('StopPodSandbox', { pod_sandbox_id: id });
      const again = await runPod('twice');
      expect(again).not.toBe(id);
      await call('RemovePodSandbox', { pod_sandbox_id: again });
    });

    it('a pause that dies is NOTREADY; StopPodSandbox then tears its network down', async () => {
      const id = await runPod('dies', withPause());
      const { pid } = await status(id);
      expect(pid).toBeGreaterThan(0); // kill(0) would be the test's own process group
      process.kill(pid, 'SIGKILL');
      for (let i = 0; i < 100 && (await status(id)).state === 'SANDBOX_READY'; i++) await new Promise((r) => setTimeout(r, 50));
      expect((await status(id)).state).toBe('SANDBOX_NOTREADY');
      expect(bridgePorts(net.bridge).length).toBe(1);
      await call('StopPodSandbox', { pod_sandbox_id: id });
      expect(leftovers(id)).toEqual({ veths: [], rules: [], leases: [] });
      expect(netnsFiles()).toEqual([]);
      await call('RemovePodSandbox', { pod_sandbox_id: id });
    });

    it('berthd SIGKILLed and restarted: running pods (with and without a pause) are still READY with their IPs, one whose pause died meanwhile NOTREADY; stop and remove leave nothing', async () => {
      const id = await runPod('survivor', withPause());
      const held = await runPod('held');
      const lost = await runPod('lost', withPause());
      const before = await status(id);
      const heldBefore = await status(held);
      const lostPid = (await status(lost)).pid;
      await daemon.kill();
      expect(lostPid).toBeGreaterThan(0);
      process.kill(lostPid, 'SIGKILL');
      await daemon.restart();
      const after = await status(id);
      expect(after).toMatchObject({ state: 'SANDBOX_READY', network: { ip: before.network?.ip } });
      expect(after.pid).toBe(before.pid);
      expect(await status(held)).toMatchObject({ state: 'SANDBOX_READY', network: { ip: heldBefore.network?.ip } });
      expect((await list({ id })).map((p) => p.state)).toEqual(['SANDBOX_READY']);
      expect((await status(lost)).state).toBe('SANDBOX_NOTREADY');
      for (const pod of [id, held, lost]) await call('RemovePodSandbox', { pod_sandbox_id: pod });
      expect(existsSync(`/proc/${before.pid}`)).toBe(false);
      expect(containerRules(held)).toEqual([]);
      expect(mountsUnder(daemon.state)).toEqual([]);
      expect(await list(null)).toEqual([]);
      expect(leftovers(id)).toEqual({ veths: [], rules: [], leases: [] });
      expect(containerRules(lost)).toEqual([]);
      expect(netnsFiles()).toEqual([]);
    });
  },
);
