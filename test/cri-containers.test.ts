// Containers in pods through berthd's CRI, as the kubelet and crictl drive them: a grpc-js client
// built from the CRI protos, a pause image and a busybox image of the test's own (busybox-static),
// and a CNI config of the test's own (a bridge and subnet no other test uses).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { collect } from '../transport/typed.ts';
import { type CriBerthd, cniBinDir, mountsUnder, startCriBerthd } from './support/cri.ts';
import type { Berthd } from './support/harness.ts';
import { describeAsRoot, installed } from './support/root.ts';
import { buildRunImage } from './support/run-image.ts';

interface ContainerStatus {
  id: string;
  state: string;
  created_at: string;
  started_at: string;
  finished_at: string;
  exit_code: number;
  reason: string;
  log_path: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  image: { image: string };
  image_ref: string;
}
interface Listed {
  id: string;
  pod_sandbox_id: string;
  state: string;
  metadata: { name: string; attempt: number };
}

const pauseImage = 'berth.test/pause:1';
const image = 'docker.io/library/busybox:latest';
const volumeImage = 'berth.test/volumes:1';
const shimBinary = '/usr/bin/containerd-shim-runc-v2';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describeAsRoot('CRI containers in pods (runtime.v1 over grpc-js)', [installed(join(cniBinDir, 'bridge')), installed('iptables-save')], () => {
  let cri: CriBerthd;
  let daemon: Berthd;
  let dir: string;
  const pods: string[] = [];

  const call = <T>(method: string, req: unknown): Promise<T> => cri.call<T>(method, req);
  const failure = (method: string, req: unknown) =>
    call(method, req).then(
      () => undefined,
      (e: grpc.ServiceError) => e,
    );
  const podConfig = (name: string, pid = 'CONTAINER') => ({
    metadata: { name, uid: `uid-${name}`, namespace: 'berth-test', attempt: 0 },
    hostname: `${name}-host`,
    log_directory: join(dir, 'logs', name),
    labels: { pod: name },
    linux: { security_context: { namespace_options: { network: 'POD', pid, ipc: 'POD' } } },
  });
  /** a pod as the kubelet makes one (pid CONTAINER: no pause), or with pid POD (a pause whose pid namespace its containers share) */
  const runPod = async (name: string, handler = '', pid = 'CONTAINER') => {
    const { pod_sandbox_id: id } = await call<{ pod_sandbox_id: string }>('RunPodSandbox', { config: podConfig(name, pid), runtime_handler: handler });
    pods.push(id);
    return id;
  };
  const podIp = async (pod: string) => (await call<{ status: { network: { ip: string } } }>('PodSandboxStatus', { pod_sandbox_id: pod })).status.network.ip;
  const create = async (pod: string, podName: string, name: string, config: Record<string, unknown> = {}) => {
    const req = {
      pod_sandbox_id: pod,
      config: { metadata: { name, attempt: 0 }, image: { image }, log_path: `${name}.log`, labels: { app: name }, ...config },
      sandbox_config: podConfig(podName),
    };
    return (await call<{ container_id: string }>('CreateContainer', req)).container_id;
  };
  const run = async (pod: string, podName: string, name: string, config: Record<string, unknown> = {}) => {
    const id = await create(pod, podName, name, config);
    await call('StartContainer', { container_id: id });
    return id;
  };
  const status = async (id: string) => {
    const r = await call<{ status: ContainerStatus; info: Record<string, string> }>('ContainerStatus', { container_id: id, verbose: true });
    return { ...r.status, pid: (JSON.parse(r.info.info!) as { pid: number }).pid };
  };
  const list = async (filter: unknown = null) => (await call<{ containers: Listed[] }>('ListContainers', { filter })).containers;
  const until = async (what: () => Promise<boolean>, ms = 10_000) => {
    for (const end = Date.now() + ms; Date.now() < end; await sleep(50)) if (await what()) return;
    throw new Error('timed out');
  };
  const exited = (id: string) => until(async () => (await status(id)).state === 'CONTAINER_EXITED');
  const logLines = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean) : []);
  /** the messages of a CRI log, lines joined (P records continue into the next) */
  const logText = (path: string) =>
    logLines(path)
      .map((l) => {
        const [, , tag, ...rest] = l.split(' ');
        return rest.join(' ') + (tag === 'F' ? '\n' : '');
      })
      .join('');
  const logOf = (pod: string, name: string) => join(dir, 'logs', pod, `${name}.log`);

  beforeAll(async () => {
    cri = await startCriBerthd({
      prefix: 'berth-cri-ctr-',
      pauseImage,
      portmap: true,
      settings: [
        '  max_container_log_line_size = 1024',
        // a runtime under containerd's shim (an absolute runtime name is the shim binary)
        '  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.shim]',
        `    runtime_type = "${shimBinary}"`,
      ],
      images: [
        buildRunImage({ name: pauseImage, config: { Cmd: ['/bin/sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'] } }),
        buildRunImage({ config: { Cmd: ['/bin/sh'], StopSignal: 'SIGUSR1' } }),
        buildRunImage({ name: volumeImage, config: { Cmd: ['/bin/sh'], Volumes: { '/work': {}, '/cache': {} } } }),
      ],
    });
    ({ daemon, dir } = cri);
  }, 60_000);

  afterAll(() => cri?.cleanup(pods));

  it('a container runs in its pod; its output is in the CRI log at the kubelet path: stdout and stderr lines, a partial line P; it exits Completed', async () => {
    const pod = await runPod('logs');
    const id = await run(pod, 'logs', 'talker', { command: ['/bin/sh', '-c', 'echo out; echo err >&2; printf partial'] });
    // max_container_log_line_size: a longer line is in partial records of at most that size
    const long = await run(pod, 'logs', 'long', { command: ['/bin/sh', '-c', `printf '%s\\n' ${'x'.repeat(2500)}`] });
    await exited(long);
    const pieces = logLines(logOf('logs', 'long')).map((l) => l.split(' ').slice(2));
    expect(pieces.every(([, text]) => (text ?? '').length <= 1024)).toBe(true);
    expect(pieces.filter(([tag]) => tag === 'P').length).toBeGreaterThanOrEqual(2);
    expect(logText(logOf('logs', 'long'))).toBe(`${'x'.repeat(2500)}\n`);
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    await exited(id);
    const s = await status(id);
    expect(s).toMatchObject({ state: 'CONTAINER_EXITED', exit_code: 0, reason: 'Completed', log_path: logOf('logs', 'talker'), labels: { app: 'talker' } });
    expect(BigInt(s.started_at)).toBeGreaterThanOrEqual(BigInt(s.created_at));
    expect(BigInt(s.finished_at)).toBeGreaterThanOrEqual(BigInt(s.started_at));
    expect(s.image.image).toBe(image);
    const lines = logLines(s.log_path);
    const record = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) ([PF]) (.*)$/;
    expect(lines.every((l) => record.test(l))).toBe(true);
    const records = lines.map((l) => record.exec(l)!.slice(1).join(' '));
    expect(records).toEqual(expect.arrayContaining(['stdout F out', 'stderr F err', 'stdout P partial']));
    expect(records).toHaveLength(3);
    await call('RemovePodSandbox', { pod_sandbox_id: pod });
  });

  it.skipIf(!existsSync(shimBinary))('under a shim runtime berthd writes the CRI log itself: records, a partial line, ReopenContainerLog', async () => {
    const pod = await runPod('shimmed', 'shim');
    const id = await run(pod, 'shimmed', 'talker', {
      command: ['/bin/sh', '-c', 'echo out; echo err >&2; printf partial; sleep 1; echo; while true; do echo tick; sleep 0.1; done'],
    });
    const path = logOf('shimmed', 'talker');
    await until(async () => logText(path).includes('tick\n'));
    const records = logLines(path).map((l) => l.split(' ').slice(1).join(' '));
    expect(records.slice(0, 3).sort()).toEqual(['stderr F err', 'stdout F out', 'stdout P partial'].sort());
    // a restarted berthd reads the FIFOs again
    await daemon.kill();
    await daemon.restart();
    const n = logLines(path).length;
    await until(async () => logLines(path).length > n + 3);
    expect((await status(id)).state).toBe('CONTAINER_RUNNING');
    renameSync(path, `${path}.1`);
    await call('ReopenContainerLog', { container_id: id });
    await until(async () => logLines(path).length >= 2);
    expect(logText(path)).toMatch(/^(tick\n)+$/);
    const shimOf = (task: string) => spawnSync('pgrep', ['-f', '--', `-id ${task}`]).status === 0;
    // the pod has no pause: the shim is its first container's (containerd's shim serves a pod's
    // containers from one process, grouped by io.kubernetes.cri.sandbox-id)
    expect([shimOf(pod), shimOf(id)]).toEqual([false, true]);
    await call('StopContainer', { container_id: id, timeout: 0 });
    expect((await status(id)).state).toBe('CONTAINER_EXITED');
    await call('RemovePodSandbox', { pod_sandbox_id: pod });
    // no shim of the pod's is left
    expect([shimOf(pod), shimOf(id)]).toEqual([false, false]);
  });

  it("containers see the pod's hostname and network: two of one pod talk over localhost, another pod's reaches the first pod's IP", async () => {
    const a = await runPod('web', '', 'POD');
    const server = await run(a, 'web', 'server', { command: ['httpd', '-f', '-p', '8081', '-h', '/work'] });
    const client = await run(a, 'web', 'client', {
      command: ['/bin/sh', '-c', 'hostname; for i in 1 2 3 4 5 6 7 8 9 10; do wget -q -O - http://127.0.0.1:8081/hello.txt && exit 0; sleep 0.2; done; exit 1'],
    });
    await exited(client);
    expect((await status(client)).exit_code).toBe(0);
    expect(logText(logOf('web', 'client'))).toBe('web-host\nhello from the run image\n');
    const serverPid = (await status(server)).pid;
    const pausePid = Number(
      (
        JSON.parse((await call<{ info: Record<string, string> }>('PodSandboxStatus', { pod_sandbox_id: a, verbose: true })).info.info!) as {
          pid: number;
        }
      ).pid,
    );
    // pid POD (the namespace options' default): the pause's pid namespace too
    for (const ns of ['net', 'ipc', 'uts', 'pid']) expect(readlinkSync(`/proc/${serverPid}/ns/${ns}`)).toBe(readlinkSync(`/proc/${pausePid}/ns/${ns}`));
    const own = await run(a, 'web', 'own', { command: ['sleep', '1000'], linux: { security_context: { namespace_options: { pid: 'CONTAINER' } } } });
    const ownPid = (await status(own)).pid;
    expect(readlinkSync(`/proc/${ownPid}/ns/pid`)).not.toBe(readlinkSync(`/proc/${pausePid}/ns/pid`));
    expect(readlinkSync(`/proc/${ownPid}/ns/net`)).toBe(readlinkSync(`/proc/${pausePid}/ns/net`));
    expect(readFileSync(`/proc/${serverPid}/root/etc/hostname`, 'utf8')).toBe('web-host\n');

    const b = await runPod('other');
    const ip = await podIp(a);
    const far = await run(b, 'other', 'far', { command: ['wget', '-q', '-O', '-', `http://${ip}:8081/hello.txt`] });
    await exited(far);
    expect(logText(logOf('other', 'far'))).toBe('hello from the run image\n');
    expect((await status(far)).exit_code).toBe(0);
    // a pod without a pause: its containers join the namespaces its files hold, and one another's
    const sleeper = await run(b, 'other', 'sleeper', { command: ['sleep', '1000'] });
    const sleeperPid = (await status(sleeper)).pid;
    const held = join(daemon.state, 'io.containerd.grpc.v1.cri', 'sandboxes', b);
    expect(statSync(`/proc/${sleeperPid}/ns/uts`).ino).toBe(statSync(join(held, 'uts')).ino);
    expect(statSync(`/proc/${sleeperPid}/ns/ipc`).ino).toBe(statSync(join(held, 'ipc')).ino);
    expect(readFileSync(`/proc/${sleeperPid}/root/etc/hostname`, 'utf8')).toBe('other-host\n');
    expect(spawnSync('nsenter', ['-t', String(sleeperPid), '-u', 'hostname'], { encoding: 'utf8' }).stdout).toBe('other-host\n');
    for (const p of [a, b]) await call('RemovePodSandbox', { pod_sandbox_id: p });
  });

  it("the image's env under the config's, args, working dir, user and groups", async () => {
    const pod = await runPod('env');
    const id = await run(pod, 'env', 'env', {
      command: ['/bin/sh'],
      args: ['-c', 'echo "$IMAGE_VAR $MY_VAR $HOSTNAME $(pwd) $(id -u):$(id -g) $(id -G)"'],
      envs: [{ key: 'MY_VAR', value: 'mine' }],
      working_dir: '/tmp',
      linux: { security_context: { run_as_user: { value: 1000 }, supplemental_groups: [29, 4242] } },
    });
    await exited(id);
    expect(logText(logOf('env', 'env'))).toBe('from-image mine env-host /tmp 1000:1000 1000 29 50 4242\n');
    const named = await run(pod, 'env', 'named', {
      command: ['id', '-un'],
      linux: { security_context: { run_as_username: 'berth', run_as_group: { value: 50 } } },
    });
    await exited(named);
    expect(logText(logOf('env', 'named'))).toBe('berth\n');
    // tty: a terminal, whose output is the log's stdout
    const tty = await run(pod, 'env', 'tty', { command: ['/bin/sh', '-c', 'test -t 0 && test -t 1 && echo "a tty $TERM"'], tty: true });
    await exited(tty);
    expect((await status(tty)).exit_code).toBe(0);
    expect(logLines(logOf('env', 'tty')).map((l) => l.split(' ').slice(1).join(' '))).toEqual(['stdout F a tty xterm\r']);
    await call('RemovePodSandbox', { pod_sandbox_id: pod });
  });

  it("the image's volumes: a directory of the container's each, filled from the image, gone with the container; a config mount replaces one", async () => {
    const pod = await runPod('vol');
    const host = join(dir, 'host-cache');
    const id = await run(pod, 'vol', 'vol', {
      image: { image: volumeImage },
      command: ['/bin/sh', '-c', 'cat /work/hello.txt && echo new > /work/new && echo cached > /cache/c'],
      mounts: [{ container_path: '/cache', host_path: host, readonly: false, propagation: 'PROPAGATION_PRIVATE' }],
    });
    await exited(id);
    expect(logText(logOf('vol', 'vol'))).toBe('hello from the run image\n');
    expect((await status(id)).exit_code).toBe(0);
    const volumes = join(daemon.root, 'io.containerd.grpc.v1.cri', 'containers', id, 'volumes');
    const made = readdirSync(volumes);
    expect(made).toHaveLength(1);
    expect(readdirSync(join(volumes, made[0]!)).sort()).toEqual(['hello.txt', 'new']);
    expect(readFileSync(join(host, 'c'), 'utf8')).toBe('cached\n');
    await call('RemoveContainer', { container_id: id });
    expect(existsSync(volumes)).toBe(false);
    await call('RemovePodSandbox', { pod_sandbox_id: pod });
  });

  it('StopContainer: the stop signal, the timeout, then SIGKILL; the exit code and reason', async () => {
    const pod = await runPod('stop');
    // the image's StopSignal is SIGUSR1
    const polite = await run(pod, 'stop', 'polite', { command: ['/bin/sh', '-c', 'trap "exit 3" USR1; echo ready; while true; do sleep 0.1; done'] });
    const stubborn = await run(pod, 'stop', 'stubborn', { command: ['/bin/sh', '-c', 'trap "" USR1 TERM; echo ready; while true; do sleep 0.1; done'] });
    await until(async () => logText(logOf('stop', 'polite')) === 'ready\n' && logText(logOf('stop', 'stubborn')) === 'ready\n');
    let t = Date.now();
    await call('StopContainer', { container_id: polite, timeout: 10 });
    expect(Date.now() - t).toBeLessThan(5000);
    expect(await status(polite)).toMatchObject({ state: 'CONTAINER_EXITED', exit_code: 3, reason: 'Error' });
    t = Date.now();
    await call('StopContainer', { container_id: stubborn, timeout: 2 });
    expect(Date.now() - t).toBeGreaterThanOrEqual(1900);
    const s = await status(stubborn);
    expect(s).toMatchObject({ state: 'CONTAINER_EXITED', exit_code: 137, reason: 'Error', pid: 0 });
    // stopping an exited container is fine; starting it again is not
    await call('StopContainer', { container_id: stubborn, timeout: 0 });
    expect((await failure('StartContainer', { container_id: stubborn }))?.code).toBe(grpc.status.FAILED_PRECONDITION);
    await call('RemovePodSandbox', { pod_sandbox_id: pod });
  });

  it('RemoveContainer stops a running container first; its record, snapshot, task and status go; twice is fine', async () => {
    const pod = await runPod('remove');
    const id = await run(pod, 'remove', 'doomed', { command: ['sleep', '1000'] });
    const { pid } = await status(id);
    expect(pid).toBeGreaterThan(0);
    await call('RemoveContainer', { container_id: id });
    expect(existsSync(`/proc/${pid}`)).toBe(false);
    expect((await failure('ContainerStatus', { container_id: id }))?.code).toBe(grpc.status.NOT_FOUND);
    expect((await list()).map((c) => c.id)).not.toContain(id);
    const k8s = daemon.client('k8s.io');
    expect((await k8s.containers.List({ filters: [] })).containers.map((c) => c.id)).not.toContain(id);
    const snaps = (await collect(k8s.snapshots.List({ snapshotter: 'overlayfs', filters: [] }))).flatMap((p) => p.info.map((i) => i.name));
    expect(snaps).not.toContain(id);
    expect(existsSync(join(daemon.root, 'io.containerd.grpc.v1.cri', 'containers', id))).toBe(false);
    await call('RemoveContainer', { container_id: id });
    // the log is the kubelet's: it stays
    expect(existsSync(logOf('remove', 'doomed'))).toBe(true);
    await call('RemovePodSandbox', { pod_sandbox_id: pod });
  });

  it('ListContainers: by id prefix, state, sandbox and labels', async () => {
    const a = await runPod('list-a');
    const b = await runPod('list-b');
    const running = await run(a, 'list-a', 'running', { command: ['sleep', '1000'], labels: { app: 'x', tier: 'front' } });
    const created = await create(a, 'list-a', 'created', { command: ['true'], labels: { app: 'y', tier: 'front' } });
    const other = await run(b, 'list-b', 'other', { command: ['true'], labels: { app: 'z' } });
    await exited(other);
    // (only this test's containers: another test's that failed may be left)
    const mine = new Set([running, created, other]);
    const ids = async (filter: unknown) =>
      (await list(filter))
        .map((c) => c.id)
        .filter((id) => mine.has(id))
        .sort();
    expect(await ids(null)).toEqual([running, created, other].sort());
    expect(await ids({ id: running.slice(0, 10) })).toEqual([running]);
    expect(await ids({ state: { state: 'CONTAINER_RUNNING' } })).toEqual([running]);
    expect(await ids({ state: { state: 'CONTAINER_CREATED' } })).toEqual([created]);
    expect(await ids({ state: { state: 'CONTAINER_EXITED' } })).toEqual([other]);
    expect(await ids({ pod_sandbox_id: a })).toEqual([running, created].sort());
    expect(await ids({ pod_sandbox_id: b.slice(0, 12) })).toEqual([other]);
    expect(await ids({ label_selector: { tier: 'front' } })).toEqual([running, created].sort());
    expect(await ids({ label_selector: { tier: 'front', app: 'y' } })).toEqual([created]);
    expect(await ids({ label_selector: { tier: 'nope' } })).toEqual([]);
    const listed = (await list({ id: created })).at(0);
    expect(listed).toMatchObject({ pod_sandbox_id: a, state: 'CONTAINER_CREATED', metadata: { name: 'created', attempt: 0 } });
    // StopPodSandbox stops the pod's containers; RemovePodSandbox removes them
    await call('StopPodSandbox', { pod_sandbox_id: a });
    expect((await status(running)).state).toBe('CONTAINER_EXITED');
    for (const p of [a, b]) await call('RemovePodSandbox', { pod_sandbox_id: p });
    expect(await ids({ pod_sandbox_id: a })).toEqual([]);
    expect(await ids({ pod_sandbox_id: b })).toEqual([]);
  });

  it('bad input: an unknown sandbox, no image, an unknown image, a name taken; each leaves nothing', async () => {
    const pod = await runPod('bad');
    const k8s = daemon.client('k8s.io');
    const records = async () => (await k8s.containers.List({ filters: ['labels."io.cri-containerd.kind"==container'] })).containers.map((c) => c.id).sort();
    const before = await records();
    const req = (config: Record<string, unknown>, sandbox = pod) => ({
      pod_sandbox_id: sandbox,
      config: { metadata: { name: 'bad', attempt: 0 }, image: { image }, command: ['true'], ...config },
      sandbox_config: podConfig('bad'),
    });
    expect((await failure('CreateContainer', req({}, 'f'.repeat(64))))?.code).toBe(grpc.status.NOT_FOUND);
    expect((await failure('CreateContainer', req({ image: { image: '' } })))?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect((await failure('CreateContainer', req({ image: { image: 'berth.test/nothing:here' } })))?.code).toBe(grpc.status.NOT_FOUND);
    expect((await failure('CreateContainer', req({ metadata: null })))?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(await records()).toEqual(before);
    const id = await create(pod, 'bad', 'bad', { command: ['true'] });
    expect((await failure('CreateContainer', req({})))?.code).toBe(grpc.status.ALREADY_EXISTS);
    expect((await list({ pod_sandbox_id: pod })).map((c) => c.id)).toEqual([id]);
    // a new attempt is another name; the name is free again once the container is removed
    await create(pod, 'bad', 'bad', { command: ['true'], metadata: { name: 'bad', attempt: 1 } });
    await call('RemoveContainer', { container_id: id });
    await create(pod, 'bad', 'bad', { command: ['true'] });
    expect((await failure('StartContainer', { container_id: 'f'.repeat(64) }))?.code).toBe(grpc.status.NOT_FOUND);
    expect((await failure('ContainerStatus', { container_id: 'f'.repeat(64) }))?.code).toBe(grpc.status.NOT_FOUND);
    await call('RemovePodSandbox', { pod_sandbox_id: pod });
    expect(await records()).toEqual(before);
  });

  it('ReopenContainerLog: after the kubelet moved the log away, new output goes to a new file; UpdateContainerResources reaches the cgroup', async () => {
    const pod = await runPod('reopen');
    const id = await run(pod, 'reopen', 'ticker', {
      command: ['/bin/sh', '-c', 'i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.1; done'],
      // as the kubelet sends them: a host without the hugetlb controller leaves them out
      linux: { resources: { memory_limit_in_bytes: 64 * 1024 * 1024, hugepage_limits: [{ page_size: '2MB', limit: 0 }] } },
    });
    const path = logOf('reopen', 'ticker');
    await until(async () => logLines(path).length >= 2);
    renameSync(path, `${path}.1`);
    await call('ReopenContainerLog', { container_id: id });
    await until(async () => logLines(path).length >= 2);
    const first = Number(/tick (\d+)/.exec(logText(path))![1]);
    const last = Number(/tick (\d+)\n$/.exec(logText(`${path}.1`))![1]);
    expect(first).toBeGreaterThan(last);

    const memory = join('/sys/fs/cgroup', existsSync('/sys/fs/cgroup/memory') ? 'memory/k8s.io' : 'k8s.io', id);
    const limitFile = existsSync(join(memory, 'memory.limit_in_bytes')) ? join(memory, 'memory.limit_in_bytes') : join(memory, 'memory.max');
    expect(readFileSync(limitFile, 'utf8').trim()).toBe(String(64 * 1024 * 1024));
    await call('UpdateContainerResources', { container_id: id, linux: { memory_limit_in_bytes: 96 * 1024 * 1024, cpu_shares: 512 } });
    expect(readFileSync(limitFile, 'utf8').trim()).toBe(String(96 * 1024 * 1024));
    const r = await call<{ status: { resources: { linux: { memory_limit_in_bytes: number } } } }>('ContainerStatus', { container_id: id });
    expect(Number(r.status.resources.linux.memory_limit_in_bytes)).toBe(96 * 1024 * 1024);

    await call('StopContainer', { container_id: id, timeout: 0 });
    expect((await failure('ReopenContainerLog', { container_id: id }))?.code).toBe(grpc.status.FAILED_PRECONDITION);

    // past its memory limit: OOMKilled
    const hog = await run(pod, 'reopen', 'hog', {
      command: ['/bin/sh', '-c', 'head -c 200000000 /dev/zero | tail'],
      linux: { resources: { memory_limit_in_bytes: 16 * 1024 * 1024 } },
    });
    await exited(hog);
    expect(await status(hog)).toMatchObject({ state: 'CONTAINER_EXITED', reason: 'OOMKilled' });
    await call('RemovePodSandbox', { pod_sandbox_id: pod });
  });

  it('berthd SIGKILLed and restarted: a running container is still RUNNING with its pid and logging, an exited one EXITED with its code; RemovePodSandbox leaves nothing', async () => {
    const pod = await runPod('restart');
    const ticker = await run(pod, 'restart', 'ticker', { command: ['/bin/sh', '-c', 'while true; do echo tick; sleep 0.1; done'], stdin: true });
    const done = await run(pod, 'restart', 'done', { command: ['/bin/sh', '-c', 'exit 7'] });
    const late = await run(pod, 'restart', 'late', { command: ['/bin/sh', '-c', 'sleep 1; exit 5'] });
    await exited(done);
    const before = await status(ticker);
    await daemon.kill();
    await sleep(1500); // late exits while berthd is away
    await daemon.restart();
    const after = await status(ticker);
    expect(after).toMatchObject({ state: 'CONTAINER_RUNNING', pid: before.pid });
    // with stdin: the FIFO berthd writes for Attach
    expect(statSync(join(daemon.state, 'io.containerd.grpc.v1.cri', 'containers', ticker, 'stdin')).isFIFO()).toBe(true);
    expect(await status(done)).toMatchObject({ state: 'CONTAINER_EXITED', exit_code: 7, reason: 'Error' });
    await until(async () => (await status(late)).state === 'CONTAINER_EXITED');
    expect((await status(late)).exit_code).toBe(5);
    const n = logLines(logOf('restart', 'ticker')).length;
    await until(async () => logLines(logOf('restart', 'ticker')).length > n + 2);

    const cgroups = ['memory', 'pids', 'cpu'].map((c) => join('/sys/fs/cgroup', c, 'k8s.io', ticker)).filter((p) => existsSync(p));
    expect(cgroups.length).toBeGreaterThan(0);
    await call('RemovePodSandbox', { pod_sandbox_id: pod });
    expect(existsSync(`/proc/${before.pid}`)).toBe(false);
    expect(await list({ pod_sandbox_id: pod })).toEqual([]);
    const k8s = daemon.client('k8s.io');
    const tasks = (await k8s.tasks.List({ filter: '' })).tasks.map((t) => t.id);
    const snaps = (await collect(k8s.snapshots.List({ snapshotter: 'overlayfs', filters: [] }))).flatMap((p) => p.info.map((i) => i.name));
    for (const id of [ticker, done, late]) {
      expect(tasks).not.toContain(id);
      expect(snaps).not.toContain(id);
      expect(mountsUnder(daemon.state).filter((l) => l.includes(id))).toEqual([]);
      expect(existsSync(join(daemon.root, 'io.containerd.grpc.v1.cri', 'containers', id))).toBe(false);
      expect(existsSync(join(daemon.state, 'io.containerd.grpc.v1.cri', 'containers', id))).toBe(false);
    }
    expect(cgroups.filter((p) => existsSync(p))).toEqual([]);
  });
});
