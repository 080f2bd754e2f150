import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import type { PodSandboxConfig__Output } from '../../api/gen/runtime/v1/PodSandboxConfig.ts';
import type { SecurityProfile__Output } from '../../api/gen/runtime/v1/SecurityProfile.ts';
import { invalidArgument } from '../../core/errors.ts';
import { buildSpec, type SpecFlags } from '../../core/spec/spec.ts';
import type { ImageConfig, Process, Spec } from '../../core/spec/types.ts';
import type { Accounts } from '../../core/spec/user.ts';

/** The OCI fields the sandbox sets that berth's Spec type does not name. */
export type SandboxSpec = Spec & {
  process: Process & { oomScoreAdj?: number };
  linux: NonNullable<Spec['linux']> & { sysctl?: Record<string, string> };
};

/** containerd 1.6's defaultSandboxOOMAdj: the pause is the last thing the OOM killer picks. */
export const sandboxOomScoreAdj = -998;

export interface SandboxSpecInput {
  namespace: string;
  id: string;
  config: PodSandboxConfig__Output;
  image: ImageConfig;
  accounts: Accounts;
  /** the pod's network namespace; undefined with hostNetwork */
  netnsPath?: string;
  /** the pod's IPC and UTS namespaces, held by files (undefined: the node's, or a new one when not NODE) */
  ipcPath?: string;
  utsPath?: string;
  /** the sandbox's hostname, hosts and resolv.conf files, and its /dev/shm (the node's with host IPC), bind-mounted */
  files: { hostname?: string; hosts: string; resolvConf: string; shm?: string };
  /** restrict_oom_score_adj: the daemon's own oom_score_adj, below which the sandbox's is clamped */
  oomScoreAdjFloor?: number;
  /** the runtime's `pod_annotations`: patterns of the pod annotations passed to the runtime in the spec */
  podAnnotations?: string[];
  /** reads a Localhost seccomp profile (tests) */
  readProfile?: (path: string) => string;
}

/** Whether the pod shares the node's network namespace (hostNetwork). */
export function hostNetwork(config: PodSandboxConfig__Output): boolean {
  return config.linux?.security_context?.namespace_options?.network === 'NODE';
}

/**
 * The pause process's spec, as containerd 1.6's sandboxContainerSpec builds it: the image's
 * command, the pod's hostname, namespaces (network joined by path; NODE modes drop theirs),
 * sysctls, cgroup parent, security context and oom_score_adj -998, and the CRI annotations
 * naming the sandbox.
 */
export function sandboxSpec(input: SandboxSpecInput): SandboxSpec {
  const { config, id } = input;
  const linuxConfig = config.linux;
  const sc = linuxConfig?.security_context;
  const ns = sc?.namespace_options;
  const flags: SpecFlags = {
    readOnly: sc?.readonly_rootfs === true,
    privileged: sc?.privileged === true,
    seccomp: seccompFlag(sc?.seccomp ?? null, sc?.seccomp_profile_path ?? '', input.readProfile),
  };
  if (sc?.run_as_user) flags.user = String(sc.run_as_user.value);
  if (sc?.run_as_user && sc.run_as_group) flags.user = `${sc.run_as_user.value}:${sc.run_as_group.value}`;
  if (!sc?.run_as_user && sc?.run_as_group) throw invalidArgument('run_as_group is set without run_as_user');
  const spec = buildSpec({ namespace: input.namespace, id, image: input.image, accounts: input.accounts, flags }) as SandboxSpec;
  const linux = spec.linux;

  if (sc?.supplemental_groups && sc.supplemental_groups.length > 0) {
    const gids = spec.process.user.additionalGids ?? [];
    for (const g of sc.supplemental_groups) if (!gids.includes(Number(g))) gids.push(Number(g));
    spec.process.user.additionalGids = gids;
  }
  let namespaces = linux.namespaces ?? [];
  if (ns?.network === 'NODE') namespaces = namespaces.filter((n) => n.type !== 'network' && n.type !== 'uts');
  else if (input.netnsPath) namespaces = namespaces.map((n) => (n.type === 'network' ? { type: 'network', path: input.netnsPath } : n));
  if (ns?.pid === 'NODE') namespaces = namespaces.filter((n) => n.type !== 'pid');
  if (ns?.ipc === 'NODE') namespaces = namespaces.filter((n) => n.type !== 'ipc');
  const held: Record<string, string | undefined> = { ipc: input.ipcPath, uts: input.utsPath };
  linux.namespaces = namespaces.map((n) => (held[n.type] ? { type: n.type, path: held[n.type] } : n));
  if (ns?.network !== 'NODE' && config.hostname) spec.hostname = config.hostname;

  let mounts = spec.mounts ?? [];
  if (input.files.shm) {
    // the pod's /dev/shm, which its containers share (read-only for the pause, as containerd's)
    mounts = mounts.filter((m) => m.destination !== '/dev/shm');
    mounts.push({ destination: '/dev/shm', type: 'bind', source: input.files.shm, options: ['rbind', 'ro', 'nosuid', 'nodev', 'noexec'] });
  }
  const files: Array<[string, string | undefined]> = [
    ['/etc/hostname', input.files.hostname],
    ['/etc/hosts', input.files.hosts],
    ['/etc/resolv.conf', input.files.resolvConf],
  ];
  for (const [destination, source] of files) {
    if (source) mounts.push({ destination, type: 'bind', source, options: ['rbind', 'ro'] });
  }
  spec.mounts = mounts;

  if (linuxConfig?.cgroup_parent) linux.cgroupsPath = podCgroupsPath(linuxConfig.cgroup_parent, id);

  const floor = input.oomScoreAdjFloor;
  spec.process.oomScoreAdj = floor !== undefined && sandboxOomScoreAdj < floor ? floor : sandboxOomScoreAdj;

  const meta = config.metadata;
  spec.annotations = {
    ...spec.annotations,
    ...passthroughAnnotations(config.annotations, input.podAnnotations ?? []),
    'io.kubernetes.cri.container-type': 'sandbox',
    'io.kubernetes.cri.sandbox-id': id,
    'io.kubernetes.cri.sandbox-name': meta?.name ?? '',
    'io.kubernetes.cri.sandbox-namespace': meta?.namespace ?? '',
    'io.kubernetes.cri.sandbox-uid': meta?.uid ?? '',
    'io.kubernetes.cri.sandbox-log-directory': config.log_directory,
  };
  return spec;
}

/** The pod annotations whose keys match one of the runtime's patterns (Go's path.Match: `*`, `?`, `[...]`). */
export function passthroughAnnotations(annotations: Record<string, string>, patterns: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  const res = patterns.map(globRegExp).filter((r): r is RegExp => r !== undefined);
  for (const [k, v] of Object.entries(annotations)) if (res.some((r) => r.test(k))) out[k] = v;
  return out;
}

/** path.Match's pattern as a RegExp (`*` and `?` stop at `/`); undefined for a malformed one (no match, as Go's ErrBadPattern). */
function globRegExp(pattern: string): RegExp | undefined {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '\\') {
      const next = pattern[++i];
      if (next === undefined) return undefined;
      re += next.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
    } else if (c === '[') {
      // a class as in Go: [abc], [a-z], [^a-z]; its body goes to the RegExp as it is
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) return undefined;
      re += `[${pattern.slice(i + 1, end)}]`;
      i = end;
    } else re += c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
  }
  try {
    return new RegExp(`^${re}$`);
  } catch {
    return undefined;
  }
}

/**
 * The seccomp choice of the pod's security context, as containerd 1.6 reads it for the sandbox:
 * the `seccomp` field, else the older `seccomp_profile_path`; nothing set is unconfined
 * (containerd's unset_seccomp_profile default).
 */
export function seccompFlag(
  profile: SecurityProfile__Output | null,
  path: string,
  readProfile: (path: string) => string = (p) => readFileSync(p, 'utf8'),
): SpecFlags['seccomp'] {
  const localhost = (file: string) => {
    if (!file.startsWith('/')) throw invalidArgument(`seccomp profile ${JSON.stringify(file)} is not an absolute path`);
    let text: string;
    try {
      text = readProfile(file);
    } catch (err) {
      throw invalidArgument(`cannot read seccomp profile ${file}: ${(err as Error).message}`);
    }
    return { profile: text, from: file };
  };
  if (profile) {
    if (profile.profile_type === 'RuntimeDefault') return undefined;
    if (profile.profile_type === 'Localhost') return localhost(profile.localhost_ref);
    return 'unconfined';
  }
  if (path === '' || path === 'unconfined') return 'unconfined';
  if (path === 'runtime/default' || path === 'docker/default') return undefined;
  if (path.startsWith('localhost/')) return localhost(path.slice('localhost/'.length));
  throw invalidArgument(`seccomp profile ${JSON.stringify(path)} is not supported`);
}

/** resolv.conf from the pod's DNSConfig, as containerd writes it (search, nameservers, options). */
export function podResolvConf(dns: { servers: string[]; searches: string[]; options: string[] }): string {
  let text = '';
  if (dns.searches.length > 0) text += `search ${dns.searches.join(' ')}\n`;
  for (const s of dns.servers) text += `nameserver ${s}\n`;
  if (dns.options.length > 0) text += `options ${dns.options.join(' ')}\n`;
  return text;
}

/**
 * The cgroups path of a pod's process under the pod's cgroup parent: for a systemd slice
 * (`….slice`, the kubelet's systemd driver) runc's systemd form `<slice>:cri-containerd:<id>`, as
 * containerd's CRI makes it; otherwise `<parent>/<id>` (cgroupfs).
 */
export function podCgroupsPath(parent: string, id: string): string {
  const base = posix.basename(parent);
  return base.endsWith('.slice') ? `${base}:cri-containerd:${id}` : posix.join(parent, id);
}
