import { describe, expect, it } from 'vitest';
import type { ContainerConfig__Output } from '../../api/gen/runtime/v1/ContainerConfig.ts';
import type { PodSandboxConfig__Output } from '../../api/gen/runtime/v1/PodSandboxConfig.ts';
import { currentCapabilities } from '../../core/spec/caps.ts';
import { Accounts } from '../../core/spec/user.ts';
import { type ContainerSpecInput, containerSpec, ociResources, processArgs } from './container-spec.ts';

const files = { hostname: '/s/hostname', hosts: '/s/hosts', resolvConf: '/s/resolv.conf', shm: '/st/shm' };

const pod = (sc: Record<string, unknown> | null = null): PodSandboxConfig__Output =>
  ({
    metadata: { name: 'web', uid: 'u1', namespace: 'ns1', attempt: 0 },
    hostname: 'web-host',
    log_directory: '/var/log/pods/u1',
    labels: {},
    annotations: { 'pod.note': 'p', other: 'o' },
    linux: { cgroup_parent: '/kubepods/pod-u1', security_context: sc, sysctls: {} },
  }) as unknown as PodSandboxConfig__Output;

const container = (c: Record<string, unknown> = {}, sc: Record<string, unknown> | null = null, resources: Record<string, unknown> | null = null) =>
  ({
    metadata: { name: 'app', attempt: 1 },
    image: { image: 'busybox', annotations: {} },
    command: [],
    args: [],
    working_dir: '',
    envs: [],
    mounts: [],
    devices: [],
    labels: {},
    annotations: { 'ctr.note': 'c' },
    log_path: 'app.log',
    stdin: false,
    stdin_once: false,
    tty: false,
    linux: { resources, security_context: sc },
    ...c,
  }) as unknown as ContainerConfig__Output;

const build = (config: ContainerConfig__Output, more: Partial<ContainerSpecInput> = {}) =>
  containerSpec({
    namespace: 'k8s.io',
    id: 'cid',
    sandboxId: 'sid',
    config,
    sandboxConfig: pod(),
    image: { name: 'busybox', config: { Entrypoint: ['/entry'], Cmd: ['cmd'], Env: ['PATH=/bin', 'A=image'], WorkingDir: '/w' } },
    accounts: new Accounts(undefined),
    podNamespaces: { network: '/proc/42/ns/net', ipc: '/proc/42/ns/ipc', uts: '/proc/42/ns/uts', pid: '/proc/42/ns/pid' },
    files,
    hostname: 'web-host',
    hostPath: (p) => p,
    ...more,
  });

describe('a CRI container spec', () => {
  it("command replaces the entrypoint, args the cmd; the image's cmd only without a command", () => {
    const image = { Entrypoint: ['/entry'], Cmd: ['cmd'] };
    expect(processArgs({ command: [], args: [] }, image)).toEqual(['/entry', 'cmd']);
    expect(processArgs({ command: [], args: ['a'] }, image)).toEqual(['/entry', 'a']);
    expect(processArgs({ command: ['/bin/x'], args: [] }, image)).toEqual(['/bin/x']);
    expect(processArgs({ command: ['/bin/x'], args: ['y'] }, image)).toEqual(['/bin/x', 'y']);
    expect(() => processArgs({ command: [], args: [] }, {})).toThrow('no command specified');
  });

  it("joins the pause's namespaces, mounts the sandbox files, and names itself in the CRI annotations", () => {
    const spec = build(container({ envs: [{ key: 'A', value: 'mine' }] }), { podAnnotations: ['pod.*'], containerAnnotations: ['ctr.*'] });
    expect(spec.linux.namespaces).toEqual([
      { type: 'pid', path: '/proc/42/ns/pid' },
      { type: 'ipc', path: '/proc/42/ns/ipc' },
      { type: 'uts', path: '/proc/42/ns/uts' },
      { type: 'mount' },
      { type: 'network', path: '/proc/42/ns/net' },
    ]);
    expect(spec.hostname).toBeUndefined();
    expect(spec.process.env).toEqual(['PATH=/bin', 'HOSTNAME=web-host', 'A=mine']);
    expect(spec.process.cwd).toBe('/w');
    expect(spec.linux.cgroupsPath).toBe('/kubepods/pod-u1/cid');
    expect(spec.mounts?.map((m) => m.destination)).not.toContain('/run');
    expect(spec.mounts?.filter((m) => m.destination === '/dev/shm')).toEqual([
      { destination: '/dev/shm', type: 'bind', source: '/st/shm', options: ['rbind', 'rprivate', 'rw'] },
    ]);
    expect(spec.mounts).toContainEqual({ destination: '/etc/hosts', type: 'bind', source: '/s/hosts', options: ['rbind', 'rprivate', 'rw'] });
    expect(spec.annotations).toEqual({
      'pod.note': 'p',
      'ctr.note': 'c',
      'io.kubernetes.cri.container-type': 'container',
      'io.kubernetes.cri.container-name': 'app',
      'io.kubernetes.cri.sandbox-id': 'sid',
      'io.kubernetes.cri.sandbox-name': 'web',
      'io.kubernetes.cri.sandbox-namespace': 'ns1',
      'io.kubernetes.cri.sandbox-uid': 'u1',
      'io.kubernetes.cri.image-name': 'busybox',
    });
    expect(spec.process.noNewPrivileges).toBe(false);
    expect(spec.process.rlimits).toBeUndefined();
    // no seccomp asked for: unconfined, as containerd 1.6
    expect(spec.linux.seccomp).toBeUndefined();
  });

  it('pid CONTAINER keeps its own namespace, NODE none, TARGET the target container', () => {
    const types = (pid: string, targetPid?: number) =>
      build(container({}, { namespace_options: { pid, target_id: 't' } }), { targetPid }).linux.namespaces?.find((n) => n.type === 'pid');
    expect(types('CONTAINER')).toEqual({ type: 'pid' });
    expect(types('NODE')).toBeUndefined();
    expect(types('TARGET', 77)).toEqual({ type: 'pid', path: '/proc/77/ns/pid' });
  });

  it("a pod without a pause: its namespaces' files, none of the node's it shares, and its own pid namespace for POD", () => {
    const spec = build(container({}), { podNamespaces: { network: 'host', ipc: '/st/ipc', uts: 'host' } });
    expect(spec.linux.namespaces).toEqual([{ type: 'pid' }, { type: 'ipc', path: '/st/ipc' }, { type: 'mount' }]);
    const pinned = build(container({}), { podNamespaces: { network: '/run/netns/cni-1', ipc: 'host', uts: '/st/uts' } });
    expect(pinned.linux.namespaces).toEqual([
      { type: 'pid' },
      { type: 'uts', path: '/st/uts' },
      { type: 'mount' },
      { type: 'network', path: '/run/netns/cni-1' },
    ]);
  });

  it("the config's mounts replace the sandbox's and the defaults at their destination, sorted by depth, with their propagation", () => {
    const mounts = [
      { container_path: '/data/deep', host_path: '/h/deep', readonly: true, propagation: 'PROPAGATION_HOST_TO_CONTAINER' },
      { container_path: '/etc/hosts', host_path: '/h/hosts', readonly: false, propagation: 'PROPAGATION_PRIVATE' },
      { container_path: '/data', host_path: '/h/data', readonly: false, propagation: 'PROPAGATION_BIDIRECTIONAL' },
    ];
    const spec = build(container({ mounts }));
    const binds = spec.mounts?.filter((m) => m.type === 'bind') ?? [];
    expect(binds.filter((m) => m.destination === '/etc/hosts')).toEqual([
      { destination: '/etc/hosts', type: 'bind', source: '/h/hosts', options: ['rbind', 'rprivate', 'rw'] },
    ]);
    const order = binds.map((m) => m.destination);
    expect(order.indexOf('/data')).toBeLessThan(order.indexOf('/data/deep'));
    expect(binds.find((m) => m.destination === '/data/deep')?.options).toEqual(['rbind', 'rslave', 'ro']);
    expect(binds.find((m) => m.destination === '/data')?.options).toEqual(['rbind', 'rshared', 'rw']);
    expect(spec.linux.rootfsPropagation).toBe('rshared');
    expect(() => build(container({ mounts: [{ ...mounts[0], container_path: 'rel' }] }))).toThrow('must be absolute');
  });

  it('capabilities: names with or without CAP_ in any case, ALL added or dropped first', () => {
    const caps = (add: string[], drop: string[]) =>
      build(container({}, { capabilities: { add_capabilities: add, drop_capabilities: drop } })).process.capabilities;
    const added = caps(['net_admin', 'CAP_SYS_TIME'], ['chown', 'CAP_KILL']);
    expect(added?.bounding).toContain('CAP_NET_ADMIN');
    expect(added?.effective).toContain('CAP_SYS_TIME');
    expect(added?.bounding).not.toContain('CAP_CHOWN');
    expect(added?.permitted).not.toContain('CAP_KILL');
    expect(caps([], ['ALL'])).toEqual({});
    expect(caps(['NET_RAW'], ['ALL'])?.bounding).toEqual(['CAP_NET_RAW']);
    expect(new Set(caps(['ALL'], ['CHOWN'])?.bounding)).toEqual(new Set(currentCapabilities().filter((c) => c !== 'CAP_CHOWN')));
    expect(() => caps(['NOPE'], [])).toThrow('unknown capability');
  });

  it('user, groups, no_new_privs, read-only rootfs, masked and readonly paths', () => {
    const spec = build(
      container(
        {},
        {
          run_as_user: { value: 1000 },
          run_as_group: { value: 3000 },
          supplemental_groups: [5, 6],
          no_new_privs: true,
          readonly_rootfs: true,
          masked_paths: ['/proc/x'],
          readonly_paths: ['/proc/y'],
        },
      ),
    );
    expect(spec.process.user).toEqual({ uid: 1000, gid: 3000, additionalGids: [3000, 5, 6] });
    expect(spec.process.noNewPrivileges).toBe(true);
    expect(spec.root?.readonly).toBe(true);
    expect(spec.linux.maskedPaths).toEqual(['/proc/x']);
    expect(spec.linux.readonlyPaths).toEqual(['/proc/y']);
    expect(spec.mounts?.find((m) => m.destination === '/etc/hosts')?.options).toEqual(['rbind', 'rprivate', 'ro']);
    expect(() => build(container({}, { run_as_group: { value: 1 } }))).toThrow('user group is specified without user');
  });

  it('a privileged container needs a privileged pod; it then has no masked paths nor seccomp', () => {
    expect(() => build(container({}, { privileged: true }))).toThrow('no privileged container allowed in sandbox');
    const spec = build(container({}, { privileged: true, seccomp: { profile_type: 'RuntimeDefault' } }), { sandboxConfig: pod({ privileged: true }) });
    expect(spec.linux.maskedPaths).toBeUndefined();
    expect(spec.linux.seccomp).toBeUndefined();
    expect(spec.mounts?.find((m) => m.destination === '/sys/fs/cgroup')?.options).toContain('rw');
  });

  it('resources: cpu, cpuset, memory (swap as the limit), hugepages, unified; oom_score_adj clamped by the floor', () => {
    const r = {
      cpu_period: 100000,
      cpu_quota: 50000,
      cpu_shares: 512,
      memory_limit_in_bytes: 1 << 26,
      oom_score_adj: -999,
      cpuset_cpus: '0',
      cpuset_mems: '',
      hugepage_limits: [{ page_size: '2MB', limit: 4194304 }],
      unified: { 'memory.high': '1000000' },
      memory_swap_limit_in_bytes: 0,
    };
    const spec = build(container({}, null, r), { oomScoreAdjFloor: -500 });
    expect(spec.linux.resources).toMatchObject({
      cpu: { shares: 512, quota: 50000, period: 100000, cpus: '0' },
      memory: { limit: 1 << 26 },
      unified: { 'memory.high': '1000000' },
    });
    const asR = r as unknown as Parameters<typeof ociResources>[0];
    expect(ociResources(asR, true).hugepageLimits).toEqual([{ pageSize: '2MB', limit: 4194304 }]);
    // no hugetlb controller: the limits are left out (containerd's tolerate_missing_hugetlb_controller)
    expect(ociResources(asR, false).hugepageLimits).toBeUndefined();
    expect(ociResources(asR, true, true).memory).toEqual({ limit: 1 << 26, swap: 1 << 26 });
    // without swap accounting no swap limit
    expect(ociResources(asR, true, false).memory).toEqual({ limit: 1 << 26 });
    expect(ociResources({ ...asR!, memory_swap_limit_in_bytes: 1 << 27 }, true, true).memory).toEqual({ limit: 1 << 26, swap: 1 << 27 });
    expect(spec.process.oomScoreAdj).toBe(-500);
    expect(build(container({}, null, { ...r, oom_score_adj: 100 })).process.oomScoreAdj).toBe(100);
    expect(ociResources(null)).toEqual({});
  });

  it('devices at their container path, allowed in the device cgroup', () => {
    const spec = build(container({ devices: [{ container_path: '/dev/xnull', host_path: '/dev/null', permissions: 'rw' }] }), {
      devicesAt: (p) => [{ path: p, type: 'c', major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 }],
    });
    expect(spec.linux.devices).toContainEqual({ path: '/dev/xnull', type: 'c', major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 });
    expect(spec.linux.resources?.devices).toContainEqual({ allow: true, type: 'c', major: 1, minor: 3, access: 'rw' });
  });

  it("tty: a terminal and TERM; the config's env over the image's", () => {
    const spec = build(container({ tty: true }));
    expect(spec.process.terminal).toBe(true);
    expect(spec.process.env).toEqual(['PATH=/bin', 'TERM=xterm', 'HOSTNAME=web-host', 'A=image']);
  });
});
