import { describe, expect, it } from 'vitest';
import type { PodSandboxConfig__Output } from '../../api/gen/runtime/v1/PodSandboxConfig.ts';
import { Accounts } from '../../core/spec/user.ts';
import { passthroughAnnotations, podCgroupsPath, podResolvConf, sandboxSpec, seccompFlag } from './sandbox-spec.ts';

const files = { hostname: '/s/hostname', hosts: '/s/hosts', resolvConf: '/s/resolv.conf' };

function podConfig(linux: Record<string, unknown> = {}, extra: Partial<PodSandboxConfig__Output> = {}): PodSandboxConfig__Output {
  return {
    metadata: { name: 'web', uid: 'u1', namespace: 'ns1', attempt: 0 },
    hostname: 'web-host',
    log_directory: '/var/log/pods/u1',
    dns_config: null,
    port_mappings: [],
    labels: {},
    annotations: {},
    linux: { cgroup_parent: '', security_context: null, sysctls: {}, overhead: null, resources: null, ...linux } as PodSandboxConfig__Output['linux'],
    windows: null,
    ...extra,
  };
}

const build = (config: PodSandboxConfig__Output, more: { netnsPath?: string; oomScoreAdjFloor?: number } = {}) =>
  sandboxSpec({ namespace: 'k8s.io', id: 'abc', config, image: { Cmd: ['/pause'] }, accounts: new Accounts(undefined), files, ...more });

describe('the pause container spec', () => {
  it('joins the pod netns by path, sets the hostname, mounts the sandbox files and names the sandbox in annotations', () => {
    const spec = build(podConfig(), { netnsPath: '/run/netns/cni-1' });
    expect(spec.process.args).toEqual(['/pause']);
    expect(spec.linux.namespaces).toContainEqual({ type: 'network', path: '/run/netns/cni-1' });
    expect(spec.linux.namespaces?.map((n) => n.type)).toEqual(['pid', 'ipc', 'uts', 'mount', 'network']);
    expect(spec.hostname).toBe('web-host');
    expect(spec.mounts).toEqual(
      expect.arrayContaining([
        { destination: '/etc/hostname', type: 'bind', source: '/s/hostname', options: ['rbind', 'ro'] },
        { destination: '/etc/resolv.conf', type: 'bind', source: '/s/resolv.conf', options: ['rbind', 'ro'] },
      ]),
    );
    expect(spec.annotations).toMatchObject({
      'io.kubernetes.cri.container-type': 'sandbox',
      'io.kubernetes.cri.sandbox-id': 'abc',
      'io.kubernetes.cri.sandbox-name': 'web',
      'io.kubernetes.cri.sandbox-namespace': 'ns1',
      'io.kubernetes.cri.sandbox-uid': 'u1',
      'io.kubernetes.cri.sandbox-log-directory': '/var/log/pods/u1',
    });
    // no seccomp field in the security context: unconfined, as containerd 1.6's sandbox
    expect(spec.linux.seccomp).toBeUndefined();
  });

  it("the pod's /dev/shm replaces the default tmpfs, read-only for the pause", () => {
    const spec = sandboxSpec({
      namespace: 'k8s.io',
      id: 'abc',
      config: podConfig(),
      image: { Cmd: ['/pause'] },
      accounts: new Accounts(undefined),
      files: { ...files, shm: '/s/shm' },
    });
    expect(spec.mounts?.filter((m) => m.destination === '/dev/shm')).toEqual([
      { destination: '/dev/shm', type: 'bind', source: '/s/shm', options: ['rbind', 'ro', 'nosuid', 'nodev', 'noexec'] },
    ]);
  });

  it('oom_score_adj is -998, or berthd own when restrict_oom_score_adj gives a higher floor', () => {
    expect(build(podConfig()).process.oomScoreAdj).toBe(-998);
    expect(build(podConfig(), { oomScoreAdjFloor: 0 }).process.oomScoreAdj).toBe(0);
    expect(build(podConfig(), { oomScoreAdjFloor: -1000 }).process.oomScoreAdj).toBe(-998);
  });

  it('hostNetwork drops the network and UTS namespaces (and the hostname); host PID and IPC drop theirs', () => {
    const spec = build(podConfig({ security_context: { namespace_options: { network: 'NODE', pid: 'NODE', ipc: 'NODE', target_id: '' } } }));
    expect(spec.linux.namespaces?.map((n) => n.type)).toEqual(['mount']);
    expect(spec.hostname).toBeUndefined();
  });

  it("no sysctls (berthd writes them into the pod's namespaces), the cgroup parent, run-as user and group, supplemental groups, read-only rootfs and privileged", () => {
    const spec = build(
      podConfig({
        cgroup_parent: '/kubepods/besteffort/podu1',
        sysctls: { 'net.ipv4.ip_unprivileged_port_start': '0', 'kernel.shm_rmid_forced': '1' },
        security_context: {
          run_as_user: { value: 1234 },
          run_as_group: { value: 5678 },
          supplemental_groups: [7, 8],
          readonly_rootfs: true,
          privileged: true,
          seccomp: null,
          seccomp_profile_path: '',
        },
      }),
    );
    expect(spec.linux.cgroupsPath).toBe('/kubepods/besteffort/podu1/abc');
    expect(spec.linux.sysctl).toBeUndefined();
    expect(spec.process.user).toMatchObject({ uid: 1234, gid: 5678 });
    expect(spec.process.user.additionalGids).toEqual(expect.arrayContaining([7, 8]));
    expect(spec.root?.readonly).toBe(true);
    expect(spec.linux.maskedPaths).toBeUndefined();
  });

  it('seccomp: RuntimeDefault is the default profile, Unconfined none, Localhost a profile file; the older path field too', () => {
    const profile = '{"defaultAction":"SCMP_ACT_ALLOW"}';
    const read = (p: string) => {
      if (p !== '/profiles/allow.json') throw new Error('ENOENT');
      return profile;
    };
    expect(seccompFlag({ profile_type: 'RuntimeDefault', localhost_ref: '' }, '')).toBeUndefined();
    expect(seccompFlag({ profile_type: 'Unconfined', localhost_ref: '' }, '')).toBe('unconfined');
    expect(seccompFlag({ profile_type: 'Localhost', localhost_ref: '/profiles/allow.json' }, '', read)).toEqual({ profile, from: '/profiles/allow.json' });
    expect(seccompFlag(null, 'runtime/default')).toBeUndefined();
    expect(seccompFlag(null, 'localhost//profiles/allow.json', read)).toEqual({ profile, from: '/profiles/allow.json' });
    expect(() => seccompFlag({ profile_type: 'Localhost', localhost_ref: '/profiles/missing.json' }, '', read)).toThrow(/cannot read seccomp profile/);
    expect(() => seccompFlag(null, 'bogus')).toThrow(/not supported/);
    const spec = build(podConfig({ security_context: { seccomp: { profile_type: 'RuntimeDefault', localhost_ref: '' } } }));
    expect(spec.linux.seccomp?.defaultAction).toBe('SCMP_ACT_ERRNO');
  });

  it('resolv.conf from the DNS config: search, nameservers, options', () => {
    expect(podResolvConf({ servers: ['10.0.0.10', '10.0.0.11'], searches: ['a.svc', 'svc'], options: ['ndots:5'] })).toBe(
      'search a.svc svc\nnameserver 10.0.0.10\nnameserver 10.0.0.11\noptions ndots:5\n',
    );
    expect(podResolvConf({ servers: ['1.1.1.1'], searches: [], options: [] })).toBe('nameserver 1.1.1.1\n');
  });

  it("pod annotations matching the runtime's pod_annotations patterns go into the spec", () => {
    const annotations = { 'io.katacontainers.config.a': '1', 'io.katacontainers/b': '2', 'example.com/x': '3', other: '4' };
    expect(passthroughAnnotations(annotations, ['io.katacontainers.*'])).toEqual({ 'io.katacontainers.config.a': '1' });
    expect(passthroughAnnotations(annotations, ['io.katacontainers*/*', 'othe?'])).toEqual({ 'io.katacontainers/b': '2', other: '4' });
    expect(passthroughAnnotations(annotations, ['[a-f]xample.com/[^y]'])).toEqual({ 'example.com/x': '3' });
    expect(passthroughAnnotations(annotations, ['[bad'])).toEqual({});
    const spec = sandboxSpec({
      namespace: 'k8s.io',
      id: 'abc',
      config: podConfig({}, { annotations }),
      image: { Cmd: ['/pause'] },
      accounts: new Accounts(undefined),
      files,
      podAnnotations: ['example.com/*'],
    });
    expect(spec.annotations?.['example.com/x']).toBe('3');
    expect(spec.annotations?.other).toBeUndefined();
  });

  it("a pod's cgroups path: cgroupfs under the parent, systemd's slice:prefix:name under a .slice parent", () => {
    expect(podCgroupsPath('/kubepods/besteffort/pod1234', 'abc')).toBe('/kubepods/besteffort/pod1234/abc');
    expect(podCgroupsPath('/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1234.slice', 'abc')).toBe(
      'kubepods-besteffort-pod1234.slice:cri-containerd:abc',
    );
    const spec = sandboxSpec({
      namespace: 'k8s.io',
      id: 'abc',
      config: podConfig({ cgroup_parent: 'kubepods-pod9.slice' }),
      image: { Cmd: ['/pause'] },
      accounts: new Accounts(undefined),
      files,
    });
    expect(spec.linux?.cgroupsPath).toBe('kubepods-pod9.slice:cri-containerd:abc');
  });
});
