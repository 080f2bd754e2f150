// Pod stats and container events through berthd's CRI, as the kubelet and crictl read them: a
// grpc-js client built from the CRI protos, a pause image of the test's own (busybox-static; its
// pid 1 burns a core, holds 32 MiB and serves /work over HTTP; the pods share a pid namespace, so
// that they have a pause) and a CNI config of the test's own (a bridge and subnet no other test
// uses) in a temporary cni.conf_dir.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Events } from '../api/services.ts';
import { packAny } from '../core/any.ts';
import { type CriBerthd, cniBinDir, startCriBerthd } from './support/cri.ts';
import type { Berthd } from './support/harness.ts';
import { describeAsRoot, installed } from './support/root.ts';
import { buildRunImage } from './support/run-image.ts';

type EventsClient = { GetContainerEvents(req: unknown): grpc.ClientReadableStream<ContainerEvent> };

interface U64 {
  value: string;
}
interface PodStats {
  attributes: { id: string; metadata: { name: string }; labels: Record<string, string>; annotations: Record<string, string> };
  linux: {
    cpu: { timestamp: string; usage_core_nano_seconds: U64; usage_nano_cores: U64 } | null;
    memory: {
      working_set_bytes: U64;
      available_bytes: U64;
      usage_bytes: U64;
      rss_bytes: U64;
      page_faults: U64;
      major_page_faults: U64;
    } | null;
    network: {
      default_interface: { name: string; rx_bytes: U64; tx_bytes: U64; rx_errors: U64; tx_errors: U64 } | null;
      interfaces: { name: string }[];
    } | null;
    process: { process_count: U64 } | null;
    containers: unknown[];
  };
}
interface ContainerStats {
  attributes: { id: string; metadata: { name: string }; labels: Record<string, string>; annotations: Record<string, string> };
  cpu: { timestamp: string; usage_core_nano_seconds: U64; usage_nano_cores: U64 } | null;
  memory: { working_set_bytes: U64; rss_bytes: U64 } | null;
  writable_layer: { timestamp: string; fs_id: { mountpoint: string }; used_bytes: U64; inodes_used: U64 } | null;
}
interface ContainerEvent {
  container_id: string;
  container_event_type: string;
  created_at: string;
  pod_sandbox_status: { id: string; state: string } | null;
  containers_statuses: { id: string; state: string; exit_code: number }[];
}

const pauseImage = 'berth.test/stats-pause:1';
const containerImage = 'docker.io/library/busybox:latest';
const MiB = 1024 * 1024;
const n = (v: U64 | undefined) => Number(v?.value ?? Number.NaN);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describeAsRoot('CRI stats and container events (runtime.v1 over grpc-js)', [installed(join(cniBinDir, 'bridge')), installed('curl')], () => {
  let cri: CriBerthd;
  let daemon: Berthd;
  let dir: string;
  const made: string[] = [];
  const cgroupParent = `/berth-stats-test-${process.pid}`;

  const call = <T>(method: string, req: unknown): Promise<T> => cri.call<T>(method, req);
  const failure = (p: Promise<unknown>) =>
    p.then(
      () => undefined,
      (e: grpc.ServiceError) => e,
    );
  const podStats = async (id: string) => (await call<{ stats: PodStats }>('PodSandboxStats', { pod_sandbox_id: id })).stats;
  const listPodStats = async (filter: unknown) => (await call<{ stats: PodStats[] }>('ListPodSandboxStats', { filter })).stats;
  const status = async (id: string) => (await call<{ status: { network: { ip: string } } }>('PodSandboxStatus', { pod_sandbox_id: id })).status;
  const runPod = async (name: string, extra: { labels?: Record<string, string>; annotations?: Record<string, string>; linux?: unknown } = {}) => {
    const config = {
      metadata: { name, uid: `uid-${name}`, namespace: 'berth-stats', attempt: 0 },
      log_directory: join(dir, 'logs', name),
      labels: { app: name, ...extra.labels },
      annotations: { note: `pod ${name}`, ...extra.annotations },
      linux: extra.linux ?? { security_context: { namespace_options: { network: 'POD', pid: 'POD', ipc: 'POD' } } },
    };
    const { pod_sandbox_id: id } = await call<{ pod_sandbox_id: string }>('RunPodSandbox', { config, runtime_handler: '' });
    made.push(id);
    return id;
  };
  const createContainer = async (pod: string, podName: string, name: string, command: string[]) => {
    const config = {
      metadata: { name, attempt: 0 },
      image: { image: containerImage },
      command,
      log_path: `${name}.log`,
      labels: { app: name },
      annotations: { about: name },
    };
    const sandbox_config = {
      metadata: { name: podName, uid: `uid-${podName}`, namespace: 'berth-stats', attempt: 0 },
      log_directory: join(dir, 'logs', podName),
    };
    return (await call<{ container_id: string }>('CreateContainer', { pod_sandbox_id: pod, config, sandbox_config })).container_id;
  };
  const listContainerStats = async (filter: unknown) => (await call<{ stats: ContainerStats[] }>('ListContainerStats', { filter })).stats;
  /** a stream of container events, with what it received so far and how it ended */
  const subscribe = () => {
    const stream = (cri.runtime as unknown as EventsClient).GetContainerEvents({});
    const got: ContainerEvent[] = [];
    const ended = new Promise<grpc.ServiceError | undefined>((resolve) => {
      stream.on('error', (e: grpc.ServiceError) => resolve(e));
      stream.on('end', () => resolve(undefined));
    });
    stream.on('data', (e: ContainerEvent) => got.push(e));
    return { stream, got, ended };
  };
  const until = async (what: () => boolean, ms = 20_000) => {
    for (const stop = Date.now() + ms; !what() && Date.now() < stop; ) await sleep(25);
    return what();
  };

  beforeAll(async () => {
    // pid 1 keeps 32 MiB in a shell variable, a child spins, httpd serves /work (with a 2 MiB file)
    const script = [
      'trap "exit 0" TERM',
      '(while :; do :; done) &',
      'head -c 2097152 /dev/zero > /work/big',
      'x=$(head -c 33554432 /dev/zero | tr "\\000" a)',
      'httpd -f -p 8080 -h /work &',
      'wait',
    ].join('\n');
    const pause = buildRunImage({ name: pauseImage, config: { Cmd: ['/bin/sh', '-c', script] } });
    cri = await startCriBerthd({ prefix: 'berth-cri-stats-', pauseImage, images: [pause, buildRunImage()] });
    ({ daemon, dir } = cri);
  }, 60_000);

  afterAll(async () => {
    await cri?.cleanup(made);
    // the pod cgroup parent runc made in every hierarchy (v1) or the one (v2)
    for (const hierarchy of ['', ...readdirSync('/sys/fs/cgroup')]) {
      const path = join('/sys/fs/cgroup', hierarchy, cgroupParent);
      if (existsSync(path)) rmdirSync(path);
    }
  });

  it('PodSandboxStats: a pod that burns a core and holds 32 MiB shows its CPU time rising at about a core, its memory, processes and eth0', async () => {
    const id = await runPod('burn');
    // the first reading once the 32 MiB are held
    let first = await podStats(id);
    for (let i = 0; i < 100 && n(first.linux.memory?.rss_bytes) < 32 * MiB; i++) {
      await sleep(100);
      first = await podStats(id);
    }
    await sleep(1000);
    const second = await podStats(id);
    expect(second.attributes).toMatchObject({ id, metadata: { name: 'burn' }, labels: { app: 'burn' }, annotations: { note: 'pod burn' } });

    const cpu0 = n(first.linux.cpu?.usage_core_nano_seconds);
    const cpu1 = n(second.linux.cpu?.usage_core_nano_seconds);
    expect(cpu1 - cpu0).toBeGreaterThan(0.2e9);
    // the rate between the two readings: about one core (less under load), never more than the machine has
    const cores = n(second.linux.cpu?.usage_nano_cores);
    expect(cores).toBeGreaterThan(0.2e9);
    expect(cores).toBeLessThanOrEqual(readdirSync('/sys/devices/system/cpu').filter((f) => /^cpu\d+$/.test(f)).length * 1.05e9);

    const mem = second.linux.memory!;
    expect(n(mem.working_set_bytes)).toBeGreaterThanOrEqual(32 * MiB);
    expect(n(mem.working_set_bytes)).toBeLessThan(160 * MiB);
    expect(n(mem.usage_bytes)).toBeGreaterThanOrEqual(n(mem.working_set_bytes));
    expect(n(mem.rss_bytes)).toBeGreaterThanOrEqual(32 * MiB);
    expect(n(mem.page_faults)).toBeGreaterThan(8000); // 32 MiB is 8192 pages, each faulted in
    expect(n(mem.available_bytes)).toBe(0); // no limit
    // sh, the spinning child and httpd
    expect(n(second.linux.process?.process_count)).toBeGreaterThanOrEqual(3);
    expect(n(second.linux.process?.process_count)).toBeLessThan(20);
    expect(second.linux.network?.default_interface?.name).toBe('eth0');
    expect(second.linux.network?.interfaces.map((i) => i.name)).toEqual(['eth0']);
    expect(second.linux.containers).toEqual([]);
    await call('RemovePodSandbox', { pod_sandbox_id: id });
  });

  it('network counters grow with traffic to the pod: 4 MiB out of eth0 for two downloads', async () => {
    const id = await runPod('traffic');
    const ip = (await status(id)).network.ip;
    const download = () =>
      spawnSync('curl', ['-sS', '--max-time', '10', '-o', '/dev/null', '-w', '%{size_download}', `http://${ip}:8080/big`], { encoding: 'utf8' }).stdout;
    // httpd starts once the pause holds its 32 MiB
    expect(await until(() => spawnSync('curl', ['-s', '--max-time', '2', `http://${ip}:8080/hello.txt`]).status === 0)).toBe(true);
    const before = (await podStats(id)).linux.network!.default_interface!;
    for (let i = 0; i < 2; i++) expect(download()).toBe('2097152');
    const after = (await podStats(id)).linux.network!.default_interface!;
    expect(n(after.tx_bytes) - n(before.tx_bytes)).toBeGreaterThanOrEqual(4 * MiB);
    expect(n(after.rx_bytes) - n(before.rx_bytes)).toBeGreaterThan(0);
    expect(n(after.rx_errors)).toBe(0);
    expect(n(after.tx_errors)).toBe(0);
    await call('RemovePodSandbox', { pod_sandbox_id: id });
  });

  it('a pod with a cgroup parent is measured there: the limit set on the parent gives available_bytes', async () => {
    // the parent made first with a 512 MiB memory limit (v1: the memory hierarchy; v2: the one)
    const v2 = existsSync('/sys/fs/cgroup/cgroup.controllers');
    const memDir = join('/sys/fs/cgroup', v2 ? '' : 'memory', cgroupParent);
    mkdirSync(memDir, { recursive: true });
    writeFileSync(join(memDir, v2 ? 'memory.max' : 'memory.limit_in_bytes'), String(512 * MiB));
    const id = await runPod('parented', {
      linux: { cgroup_parent: cgroupParent, security_context: { namespace_options: { network: 'POD', pid: 'POD', ipc: 'POD' } } },
    });
    let s = await podStats(id);
    for (let i = 0; i < 100 && n(s.linux.memory?.rss_bytes) < 32 * MiB; i++) {
      await sleep(100);
      s = await podStats(id);
    }
    const ws = n(s.linux.memory?.working_set_bytes);
    expect(ws).toBeGreaterThanOrEqual(32 * MiB);
    expect(n(s.linux.memory?.available_bytes)).toBe(512 * MiB - ws);
    expect(n(s.linux.cpu?.usage_core_nano_seconds)).toBeGreaterThan(0);
    await call('RemovePodSandbox', { pod_sandbox_id: id });
  });

  it('a hostNetwork pod has CPU and memory but no network stats (it has no netns of its own)', async () => {
    const id = await runPod('hostnet', { linux: { security_context: { namespace_options: { network: 'NODE', pid: 'POD', ipc: 'POD' } } } });
    const s = await podStats(id);
    expect(n(s.linux.cpu?.usage_core_nano_seconds)).toBeGreaterThan(0);
    expect(s.linux.memory).not.toBeNull();
    expect(s.linux.network).toBeNull();
    await call('RemovePodSandbox', { pod_sandbox_id: id });
  });

  it('ListPodSandboxStats: ready pods only, by id prefix or label selector; a stopped pod has no stats, an unknown one is not found', async () => {
    const a = await runPod('list-a', { labels: { tier: 'front' } });
    const b = await runPod('list-b', { labels: { tier: 'back' } });
    const c = await runPod('list-c', { labels: { tier: 'back' } });
    await call('StopPodSandbox', { pod_sandbox_id: c });
    // (pods of other tests of this file that failed may be there too)
    const ids = async (filter: unknown) =>
      (await listPodStats(filter))
        .map((s) => s.attributes.id)
        .filter((id) => [a, b, c].includes(id))
        .sort();
    expect(await ids(null)).toEqual([a, b].sort());
    expect(await ids({ id: a.slice(0, 10) })).toEqual([a]);
    expect(await ids({ label_selector: { tier: 'back' } })).toEqual([b]);
    expect(await ids({ label_selector: { tier: 'back', app: 'list-a' } })).toEqual([]);
    expect(await ids({ id: c })).toEqual([]);
    expect((await failure(podStats(c)))?.code).toBe(grpc.status.UNAVAILABLE);
    expect((await failure(podStats('0123456789abcdef')))?.code).toBe(grpc.status.NOT_FOUND);
    for (const id of [a, b, c]) await call('RemovePodSandbox', { pod_sandbox_id: id });
    expect(await ids(null)).toEqual([]);
    expect((await failure(podStats(a)))?.code).toBe(grpc.status.NOT_FOUND);
  });

  it('container stats: CPU, memory and writable layer of a running container; a created one has its attributes and layer only; filters', async () => {
    const pod = await runPod('with-ctrs');
    const other = await runPod('other');
    // holds 16 MiB and writes 3 MiB into its writable layer, then sleeps (not exec'd: the shell stays, with its 16 MiB)
    const worker = await createContainer(pod, 'with-ctrs', 'worker', [
      '/bin/sh',
      '-c',
      'x=$(head -c 16777216 /dev/zero | tr "\\000" a); head -c 3145728 /dev/zero > /data.bin; sleep 3600; exit 0',
    ]);
    const idle = await createContainer(pod, 'with-ctrs', 'idle', ['sleep', '3600']);
    await call('StartContainer', { container_id: worker });
    const stats = async (id: string) => (await call<{ stats: ContainerStats }>('ContainerStats', { container_id: id })).stats;
    let w = await stats(worker);
    for (let i = 0; i < 100 && n(w.memory?.rss_bytes) < 16 * MiB; i++) {
      await sleep(100);
      w = await stats(worker);
    }
    expect(w.attributes).toEqual({ id: worker, metadata: { name: 'worker', attempt: 0 }, labels: { app: 'worker' }, annotations: { about: 'worker' } });
    expect(n(w.cpu?.usage_core_nano_seconds)).toBeGreaterThan(0);
    expect(Number(w.cpu?.timestamp)).toBeGreaterThan(0);
    expect(n(w.memory?.working_set_bytes)).toBeGreaterThanOrEqual(16 * MiB);
    expect(n(w.memory?.working_set_bytes)).toBeLessThan(96 * MiB);
    // the layer is measured at most every 10 s: wait for a measurement after the write
    for (let i = 0; i < 150 && n(w.writable_layer?.used_bytes) < 3 * MiB; i++) {
      await sleep(100);
      w = (await listContainerStats({ id: worker }))[0]!;
    }
    expect(n(w.writable_layer?.used_bytes)).toBeGreaterThanOrEqual(3 * MiB);
    expect(n(w.writable_layer?.inodes_used)).toBeGreaterThanOrEqual(2);
    expect(existsSync(w.writable_layer!.fs_id.mountpoint)).toBe(true);

    // not started: listed with its attributes and layer, no cpu or memory; ContainerStats refuses it
    const [i] = await listContainerStats({ id: idle.slice(0, 12) });
    expect(i).toMatchObject({ attributes: { id: idle, metadata: { name: 'idle' } }, cpu: null, memory: null });
    expect(n(i?.writable_layer?.used_bytes)).toBeGreaterThanOrEqual(0);
    expect((await failure(stats(idle)))?.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect((await failure(stats('0123456789abcdef')))?.code).toBe(grpc.status.NOT_FOUND);

    const ids = async (filter: unknown) =>
      (await listContainerStats(filter))
        .map((s) => s.attributes.id)
        .filter((id) => [worker, idle].includes(id))
        .sort();
    expect(await ids(null)).toEqual([worker, idle].sort());
    expect(await ids({ pod_sandbox_id: pod })).toEqual([worker, idle].sort());
    expect(await ids({ pod_sandbox_id: other })).toEqual([]);
    expect(await ids({ label_selector: { app: 'worker' } })).toEqual([worker]);
    expect(await ids({ pod_sandbox_id: pod, label_selector: { app: 'nope' } })).toEqual([]);

    // the pod's stats: its containers inside, its cgroups together (the pause's 32 MiB and the worker's 16)
    const p = await podStats(pod);
    expect(p.linux.containers.map((c) => (c as ContainerStats).attributes.id).sort()).toEqual([worker, idle].sort());
    expect(n(p.linux.memory?.working_set_bytes)).toBeGreaterThanOrEqual(48 * MiB);
    expect(n(p.linux.process?.process_count)).toBeGreaterThanOrEqual(4);

    // stopped: still listed, without cpu or memory
    await call('StopContainer', { container_id: worker, timeout: 0 });
    expect((await listContainerStats({ id: worker }))[0]).toMatchObject({ attributes: { id: worker }, cpu: null, memory: null });
    for (const id of [pod, other]) await call('RemovePodSandbox', { pod_sandbox_id: id });
    expect(await ids(null)).toEqual([]);
  });

  it("a pod without a pause (pid CONTAINER) is measured through its containers: their cgroups, and eth0 from a running one's network namespace", async () => {
    const id = await runPod('held', { linux: { security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } } });
    // nothing runs in it yet: no cgroup to read, no process to read eth0 through
    const empty = await podStats(id);
    expect(empty.linux).toMatchObject({ cpu: null, memory: null, network: null, containers: [] });
    const c = await createContainer(id, 'held', 'sleeper', ['sleep', '1000']);
    await call('StartContainer', { container_id: c });
    const p = await podStats(id);
    expect(p.linux.network?.interfaces.map((i) => i.name)).toEqual(['eth0']);
    expect(n(p.linux.memory?.working_set_bytes)).toBeGreaterThan(0);
    expect(n(p.linux.process?.process_count)).toBe(1);
    expect(p.linux.containers.map((x) => (x as ContainerStats).attributes.id)).toEqual([c]);
    await call('RemovePodSandbox', { pod_sandbox_id: id });
  });

  it('UpdateRuntimeConfig without conf_template changes nothing; checkpoint and metrics RPCs answer UNIMPLEMENTED with why', async () => {
    const confs = readdirSync(join(dir, 'net.d'));
    await call('UpdateRuntimeConfig', { runtime_config: { network_config: { pod_cidr: '10.99.0.0/24' } } });
    expect(readdirSync(join(dir, 'net.d'))).toEqual(confs);
    expect((await failure(call('UpdateRuntimeConfig', { runtime_config: { network_config: { pod_cidr: 'nonsense' } } })))?.code).toBe(
      grpc.status.INVALID_ARGUMENT,
    );
    for (const [method, why] of [
      ['CheckpointContainer', /CRIU/],
      ['ListMetricDescriptors', /ListPodSandboxStats/],
      ['ListPodSandboxMetrics', /ListPodSandboxStats/],
    ] as const) {
      const err = await failure(call(method, {}));
      expect(err?.code).toBe(grpc.status.UNIMPLEMENTED);
      expect(err?.details).toMatch(why);
    }
  });

  it('GetContainerEvents: a container is created, started, stopped and deleted, in order, with its pod and its statuses', async () => {
    const pod = await runPod('ctr-events');
    const events = subscribe();
    await sleep(200);
    const mine = (id: string) => events.got.filter((e) => e.container_id === id);
    const id = await createContainer(pod, 'ctr-events', 'short', ['sleep', '3600']);
    expect(await until(() => mine(id).length === 1)).toBe(true);
    await call('StartContainer', { container_id: id });
    expect(await until(() => mine(id).length === 2)).toBe(true);
    await call('StopContainer', { container_id: id, timeout: 0 });
    expect(await until(() => mine(id).length === 3)).toBe(true);
    await call('RemoveContainer', { container_id: id });
    expect(await until(() => mine(id).length === 4)).toBe(true);
    await sleep(200);
    expect(mine(id).map((e) => e.container_event_type)).toEqual([
      'CONTAINER_CREATED_EVENT',
      'CONTAINER_STARTED_EVENT',
      'CONTAINER_STOPPED_EVENT',
      'CONTAINER_DELETED_EVENT',
    ]);
    for (const e of mine(id)) expect(e.pod_sandbox_status).toMatchObject({ id: pod, state: 'SANDBOX_READY' });
    // the container as of each event
    expect(mine(id)[1]!.containers_statuses).toMatchObject([{ id, state: 'CONTAINER_RUNNING' }]);
    expect(mine(id)[2]!.containers_statuses).toMatchObject([{ id, state: 'CONTAINER_EXITED', exit_code: 137 }]);
    expect(mine(id)[3]!.containers_statuses).toEqual([]);
    // the pause's own events are the sandbox's (container_id the pod's), not the container's
    expect(events.got.filter((e) => e.container_id === pod)).toEqual([]);
    events.stream.cancel();
    await call('RemovePodSandbox', { pod_sandbox_id: pod });
  });

  it.each(['POD', 'CONTAINER'])('GetContainerEvents: a pod (pid %s) is created, started, stopped and deleted, in that order, with its status', async (pid) => {
    const events = subscribe();
    await sleep(200);
    // pid CONTAINER: no pause whose task tells; the sandbox says it
    const id = await runPod(`evented-${pid.toLowerCase()}`, { linux: { security_context: { namespace_options: { network: 'POD', pid, ipc: 'POD' } } } });
    await call('StopPodSandbox', { pod_sandbox_id: id });
    await call('RemovePodSandbox', { pod_sandbox_id: id });
    const mine = () => events.got.filter((e) => e.container_id === id);
    expect(await until(() => mine().length >= 4)).toBe(true);
    await sleep(200);
    expect(mine().map((e) => e.container_event_type)).toEqual([
      'CONTAINER_CREATED_EVENT',
      'CONTAINER_STARTED_EVENT',
      'CONTAINER_STOPPED_EVENT',
      'CONTAINER_DELETED_EVENT',
    ]);
    const times = mine().map((e) => Number(e.created_at));
    expect(times).toEqual([...times].sort((x, y) => x - y));
    expect(Math.abs(times[0]! / 1e6 - Date.now())).toBeLessThan(60_000);
    expect(mine()[1]!.pod_sandbox_status).toMatchObject({ id, state: 'SANDBOX_READY' });
    expect(mine()[2]!.pod_sandbox_status).toMatchObject({ id, state: 'SANDBOX_NOTREADY' });
    expect(mine()[3]!.pod_sandbox_status).toBeNull();
    events.stream.cancel();
  });

  it('GetContainerEvents: a client that does not read is cut off (RESOURCE_EXHAUSTED) while one that reads gets every event', async () => {
    // a pod whose status is large (8 KiB of annotations): every event about it carries it
    const id = await runPod('flood', { annotations: { bulk: 'x'.repeat(8192) } });
    const slow = subscribe();
    slow.stream.pause();
    const fast = subscribe();
    await sleep(200);
    const publisher = daemon.client('k8s.io').service(Events);
    // events about the pod, the cheap way: task starts published on the exchange
    const total = 2500;
    for (let i = 0; i < total; i++) {
      await publisher.Publish({ topic: '/tasks/start', event: packAny('containerd.events.TaskStart', { container_id: id, pid: 1 }) });
    }
    const started = () => fast.got.filter((e) => e.container_id === id && e.container_event_type === 'CONTAINER_STARTED_EVENT').length;
    expect(await until(() => started() >= total, 60_000)).toBe(true);
    expect(started()).toBe(total);
    slow.stream.resume();
    const err = await slow.ended;
    expect(err?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(slow.got.length).toBeLessThan(total);
    fast.stream.cancel();
    await call('RemovePodSandbox', { pod_sandbox_id: id });
  }, 120_000);
});
