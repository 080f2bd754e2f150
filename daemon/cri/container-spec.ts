import { existsSync, lstatSync, mkdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { posix } from 'node:path';
import type { ContainerConfig__Output } from '../../api/gen/runtime/v1/ContainerConfig.ts';
import type { LinuxContainerResources__Output } from '../../api/gen/runtime/v1/LinuxContainerResources.ts';
import type { PodSandboxConfig__Output } from '../../api/gen/runtime/v1/PodSandboxConfig.ts';
import { asInvalidArgument, invalidArgument } from '../../core/errors.ts';
import { currentCapabilities, normalizeCapabilities } from '../../core/spec/caps.ts';
import { buildSpec, defaultPath, defaultSpec, devNumbers, hostDevices, mergeEnv, type SpecFlags } from '../../core/spec/spec.ts';
import type { ImageConfig, LinuxDevice, LinuxResources, Process, Spec, SpecMount } from '../../core/spec/types.ts';
import type { Accounts } from '../../core/spec/user.ts';
import { passthroughAnnotations, podCgroupsPath, seccompFlag } from './sandbox-spec.ts';

/** The OCI resources a CRI container may set beyond what berth's Spec type names. */
export type ContainerResources = LinuxResources & {
  hugepageLimits?: Array<{ pageSize: string; limit: number }>;
  unified?: Record<string, string>;
  cpu?: LinuxResources['cpu'] & { cpus?: string; mems?: string };
};

/** The OCI fields a CRI container sets that berth's Spec type does not name. */
export type ContainerSpec = Spec & {
  process: Process & { oomScoreAdj?: number };
  linux: NonNullable<Spec['linux']> & { resources?: ContainerResources; rootfsPropagation?: string };
};

/**
 * The pod's namespaces as files: `host` where the pod shares the node's. pid only when the pod
 * has a pause whose pid namespace its containers may share.
 */
export interface PodNamespaces {
  network: string;
  ipc: string;
  uts: string;
  pid?: string;
}

export interface ContainerSpecInput {
  namespace: string;
  id: string;
  sandboxId: string;
  config: ContainerConfig__Output;
  /** the sandbox's config, as RunPodSandbox was given it */
  sandboxConfig: PodSandboxConfig__Output;
  /** the image's name as the config gives it, and its config */
  image: { name: string; config: ImageConfig };
  accounts: Accounts;
  /** the pod's namespaces the container joins */
  podNamespaces: PodNamespaces;
  /** pid TARGET: the target container's init */
  targetPid?: number;
  /** the sandbox's files, bind-mounted unless the config mounts something there */
  files: { hostname?: string; hosts: string; resolvConf: string; shm: string };
  /** the image's volumes (VOLUME): a directory of the container's for each, mounted read-write */
  volumes?: Array<{ containerPath: string; hostPath: string }>;
  /** the pod's hostname (HOSTNAME in the environment); the node's with hostNetwork */
  hostname: string;
  /** restrict_oom_score_adj: the daemon's own oom_score_adj, below which the container's is clamped */
  oomScoreAdjFloor?: number;
  podAnnotations?: string[];
  containerAnnotations?: string[];
  privilegedWithoutHostDevices?: boolean;
  /** reads a Localhost seccomp profile (tests) */
  readProfile?: (path: string) => string;
  /** a host path of a mount: made when missing, symlinks resolved (tests replace it) */
  hostPath?: (path: string) => string;
  /** the device nodes under a host path (tests replace it) */
  devicesAt?: (path: string) => LinuxDevice[];
}

const annotation = {
  containerType: 'io.kubernetes.cri.container-type',
  containerName: 'io.kubernetes.cri.container-name',
  sandboxId: 'io.kubernetes.cri.sandbox-id',
  sandboxName: 'io.kubernetes.cri.sandbox-name',
  sandboxNamespace: 'io.kubernetes.cri.sandbox-namespace',
  sandboxUid: 'io.kubernetes.cri.sandbox-uid',
  imageName: 'io.kubernetes.cri.image-name',
};

/**
 * A CRI container's spec, as containerd 1.6's CRI builds it (containerSpec): the image's config
 * under the container config's command, args, env, working dir and user; the pause's network,
 * IPC and UTS namespaces joined (pid per namespace_options); the sandbox's hostname, hosts,
 * resolv.conf and /dev/shm mounted in; the config's mounts and devices; resources, security
 * context and the CRI annotations. Throws InvalidArgument for a config it cannot run.
 */
export function containerSpec(input: ContainerSpecInput): ContainerSpec {
  const { config, id } = input;
  const sc = config.linux?.security_context;
  const podSc = input.sandboxConfig.linux?.security_context;
  const privileged = sc?.privileged === true;
  if (privileged && podSc?.privileged !== true) throw invalidArgument('no privileged container allowed in sandbox');

  const flags: SpecFlags = {
    args: processArgs(config, input.image.config),
    readOnly: sc?.readonly_rootfs === true,
    privileged,
    seccomp: privileged ? 'unconfined' : seccompFlag(sc?.seccomp ?? null, sc?.seccomp_profile_path ?? '', input.readProfile),
    ...capabilityFlags(sc?.capabilities ?? null),
  };
  if (config.working_dir) flags.cwd = config.working_dir;
  const user = userString(sc?.run_as_username ?? '', sc?.run_as_user ?? null, sc?.run_as_group ?? null);
  if (user) flags.user = user;

  const spec = asInvalidArgument(() =>
    buildSpec({ namespace: input.namespace, id, image: input.image.config, accounts: input.accounts, flags }),
  ) as ContainerSpec;
  const p = spec.process;
  const linux = spec.linux;

  // containerd's CRI: no /run tmpfs, no default rlimits, no_new_privs only when asked
  spec.mounts = (spec.mounts ?? []).filter((m) => m.destination !== '/run');
  delete p.rlimits;
  p.noNewPrivileges = sc?.no_new_privs === true;
  if (config.tty) p.terminal = true;
  const imageEnv = input.image.config.Env ?? [];
  // one merge after the other: the config's env replaces the image's in place
  const own = mergeEnv([defaultPath], [...(config.tty ? ['TERM=xterm'] : []), `HOSTNAME=${input.hostname}`]);
  p.env = mergeEnv(
    mergeEnv(own, imageEnv),
    config.envs.map((e) => `${e.key}=${e.value}`),
  );
  if (sc?.supplemental_groups && sc.supplemental_groups.length > 0) {
    const gids = p.user.additionalGids ?? [];
    for (const g of sc.supplemental_groups) if (!gids.includes(Number(g))) gids.push(Number(g));
    p.user.additionalGids = gids;
  }
  if (!privileged) {
    if (sc?.masked_paths && sc.masked_paths.length > 0) linux.maskedPaths = [...sc.masked_paths];
    if (sc?.readonly_paths && sc.readonly_paths.length > 0) linux.readonlyPaths = [...sc.readonly_paths];
  }
  if (privileged && input.privilegedWithoutHostDevices) linux.devices = [];

  linux.namespaces = podNamespaces(linux.namespaces ?? [], sc?.namespace_options?.pid ?? 'POD', input.podNamespaces, input.targetPid);
  spec.mounts = withMounts(spec, input, privileged);
  addDevices(spec, config, input.devicesAt ?? devicesAt);

  const parent = input.sandboxConfig.linux?.cgroup_parent;
  if (parent) linux.cgroupsPath = podCgroupsPath(parent, id);
  linux.resources = { ...linux.resources, ...ociResources(config.linux?.resources ?? null) };
  const adj = Number(config.linux?.resources?.oom_score_adj ?? 0);
  const floor = input.oomScoreAdjFloor;
  p.oomScoreAdj = floor !== undefined && adj < floor ? floor : adj;

  const sandboxMeta = input.sandboxConfig.metadata;
  spec.annotations = {
    ...spec.annotations,
    ...passthroughAnnotations(input.sandboxConfig.annotations, input.podAnnotations ?? []),
    ...passthroughAnnotations(config.annotations, input.containerAnnotations ?? []),
    [annotation.containerType]: 'container',
    [annotation.sandboxId]: input.sandboxId,
    [annotation.sandboxNamespace]: sandboxMeta?.namespace ?? '',
    [annotation.sandboxUid]: sandboxMeta?.uid ?? '',
    [annotation.sandboxName]: sandboxMeta?.name ?? '',
    [annotation.containerName]: config.metadata?.name ?? '',
    [annotation.imageName]: input.image.name,
  };
  return spec;
}

/** The image's VOLUME paths that no mount of the config covers (containerd's volumeMounts), sorted. */
export function imageVolumes(image: ImageConfig, mounts: ReadonlyArray<{ container_path: string }>): string[] {
  const given = new Set(mounts.map((m) => posix.normalize(m.container_path)));
  return Object.keys(image.Volumes ?? {})
    .map((v) => posix.normalize(v))
    .filter((v) => v.startsWith('/') && !given.has(v))
    .sort();
}

/** containerd's WithProcessArgs: command replaces the entrypoint, args the cmd (the image's cmd only without a command). */
export function processArgs(config: Pick<ContainerConfig__Output, 'command' | 'args'>, image: ImageConfig): string[] {
  let command = [...config.command];
  let args = [...config.args];
  if (command.length === 0) {
    if (args.length === 0) args = [...(image.Cmd ?? [])];
    const entrypoint = image.Entrypoint ?? [];
    if (!(entrypoint.length === 1 && entrypoint[0] === '')) command = [...entrypoint];
  }
  const all = [...command, ...args];
  if (all.length === 0) throw invalidArgument('no command specified');
  return all;
}

/** generateUserString: run_as_username, else run_as_user, with `:run_as_group`. */
function userString(username: string, uid: { value: number } | null, gid: { value: number } | null): string {
  let user = username || (uid ? String(uid.value) : '');
  if (gid) {
    if (!user) throw invalidArgument('user group is specified without user');
    user = `${user}:${gid.value}`;
  }
  return user;
}

/**
 * The capabilities add/drop ask for, as the additions and removals buildSpec applies to its
 * defaults: `ALL` added is every capability berthd has, `ALL` dropped none, then the single names
 * (with or without `CAP_`, any case) are added and dropped.
 */
function capabilityFlags(c: { add_capabilities: string[]; drop_capabilities: string[] } | null): Pick<SpecFlags, 'capAdd' | 'capDrop'> {
  if (!c || (c.add_capabilities.length === 0 && c.drop_capabilities.length === 0)) return {};
  const isAll = (n: string) => ['ALL', 'CAP_ALL'].includes(n.trim().toUpperCase());
  const names = (list: string[]) => asInvalidArgument(() => normalizeCapabilities(list.filter((n) => !isAll(n))));
  const defaults = defaultSpec('', '').process?.capabilities?.bounding ?? [];
  let caps = [...defaults];
  if (c.add_capabilities.some(isAll)) caps = currentCapabilities();
  if (c.drop_capabilities.some(isAll)) caps = [];
  for (const n of names(c.add_capabilities)) if (!caps.includes(n)) caps.push(n);
  const dropped = new Set(names(c.drop_capabilities));
  caps = caps.filter((n) => !dropped.has(n));
  return { capAdd: caps.filter((n) => !defaults.includes(n)), capDrop: defaults.filter((n) => !caps.includes(n)) };
}

/**
 * WithPodNamespaces: network, IPC and UTS are the pod's (or the node's); pid per mode (CONTAINER
 * own, POD the pause's, NODE the host's, TARGET another container's). A pod without a pause has
 * no pid namespace to share: a container asking for POD there gets its own.
 */
function podNamespaces(namespaces: { type: string; path?: string }[], pidMode: string, pod: PodNamespaces, targetPid?: number) {
  // the default spec has a network, IPC and UTS namespace each: the pod's file, or none (the node's)
  const shared = (type: string) => (type === 'network' || type === 'ipc' || type === 'uts' ? pod[type] : undefined);
  let out = namespaces.flatMap((n) => {
    const path = shared(n.type);
    if (path === 'host') return [];
    return path ? [{ type: n.type, path }] : [n];
  });
  if (pidMode === 'NODE') out = out.filter((n) => n.type !== 'pid');
  else if (pidMode === 'POD' && pod.pid) out = out.map((n) => (n.type === 'pid' ? { type: 'pid', path: pod.pid! } : n));
  else if (pidMode === 'TARGET') {
    if (!targetPid) throw invalidArgument('pid namespace TARGET needs a running target container');
    out = out.map((n) => (n.type === 'pid' ? { type: 'pid', path: `/proc/${targetPid}/ns/pid` } : n));
  }
  return out;
}

interface CriMount {
  container_path: string;
  host_path: string;
  readonly: boolean;
  propagation: string;
}

/**
 * WithMounts: the sandbox's files (unless the config mounts something there) and the config's
 * mounts, sorted by depth, over the default mounts they do not replace; then /sys/fs/cgroup
 * read-only (read-write when privileged).
 */
function withMounts(spec: ContainerSpec, input: ContainerSpecInput, privileged: boolean): SpecMount[] {
  const { config, files } = input;
  const readonly = config.linux?.security_context?.readonly_rootfs === true;
  const given = new Set(config.mounts.map((m) => posix.normalize(m.container_path)));
  const extra: CriMount[] = [];
  const add = (container_path: string, host_path: string | undefined, ro: boolean) => {
    if (host_path && !given.has(container_path)) extra.push({ container_path, host_path, readonly: ro, propagation: 'PROPAGATION_PRIVATE' });
  };
  add('/etc/hostname', files.hostname, readonly);
  add('/etc/hosts', files.hosts, readonly);
  add('/etc/resolv.conf', files.resolvConf, readonly);
  add('/dev/shm', files.shm, false);
  const volumes = (input.volumes ?? []).map((v) => ({
    container_path: v.containerPath,
    host_path: v.hostPath,
    readonly: false,
    propagation: 'PROPAGATION_PRIVATE',
  }));
  const mounts: CriMount[] = [...extra, ...volumes, ...config.mounts.map((m) => ({ ...m, propagation: String(m.propagation) }))];
  for (const m of mounts) {
    if (!m.container_path.startsWith('/')) throw invalidArgument(`mount ${JSON.stringify(m.container_path)}: the container path must be absolute`);
    if (!m.host_path.startsWith('/')) throw invalidArgument(`mount ${JSON.stringify(m.host_path)}: the host path must be absolute`);
  }
  const depth = (p: string) => posix.normalize(p).split('/').filter(Boolean).length;
  const sorted = mounts.map((m, i) => ({ m, i })).sort((a, b) => depth(a.m.container_path) - depth(b.m.container_path) || a.i - b.i);
  const destinations = new Set(mounts.map((m) => posix.normalize(m.container_path)));
  const out = (spec.mounts ?? []).filter((m) => {
    const dst = posix.normalize(m.destination);
    return !destinations.has(dst) && !(destinations.has('/dev') && dst.startsWith('/dev/'));
  });
  const hostPath = input.hostPath ?? prepareHostPath;
  for (const { m } of sorted) {
    const options = ['rbind'];
    if (m.propagation === 'PROPAGATION_BIDIRECTIONAL') {
      options.push('rshared');
      spec.linux.rootfsPropagation = 'rshared';
    } else if (m.propagation === 'PROPAGATION_HOST_TO_CONTAINER') {
      options.push('rslave');
      if (spec.linux.rootfsPropagation !== 'rshared') spec.linux.rootfsPropagation = 'rslave';
    } else options.push('rprivate');
    options.push(m.readonly ? 'ro' : 'rw');
    out.push({ destination: m.container_path, type: 'bind', source: hostPath(m.host_path), options });
  }
  out.push({ destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', privileged ? 'rw' : 'ro'] });
  return out;
}

/** A mount's host path: made (0755) when missing, as containerd does, and its symlinks resolved. */
function prepareHostPath(path: string): string {
  if (!existsSync(path)) {
    try {
      mkdirSync(path, { recursive: true, mode: 0o755 });
    } catch (err) {
      throw invalidArgument(`cannot make the mount's host path ${path}: ${(err as Error).message}`);
    }
  }
  return realpathSync(path);
}

/** The device at a host path (or every device under a directory), as oci.DevicesFromPath. */
function devicesAt(path: string): LinuxDevice[] {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(realpathSync(path), { bigint: true });
  } catch (err) {
    throw invalidArgument(`device ${path}: ${(err as Error).message}`);
  }
  if (st.isDirectory()) return hostDevices(realpathSync(path));
  const l = lstatSync(realpathSync(path), { bigint: true });
  const type = l.isBlockDevice() ? 'b' : l.isCharacterDevice() ? 'c' : undefined;
  if (!type) throw invalidArgument(`device ${path} is not a device node`);
  return [{ path, type, ...devNumbers(l.rdev), fileMode: Number(l.mode & 0o7777n), uid: Number(l.uid), gid: Number(l.gid) }];
}

/** WithDevices: each device node at its container path, allowed in the device cgroup with the config's permissions. */
function addDevices(spec: ContainerSpec, config: ContainerConfig__Output, find: (path: string) => LinuxDevice[]): void {
  for (const d of config.devices) {
    const found = find(d.host_path);
    for (const dev of found) {
      const path = found.length === 1 && dev.path === d.host_path ? d.container_path : posix.join(d.container_path, posix.relative(d.host_path, dev.path));
      spec.linux.devices = [...(spec.linux.devices ?? []), { ...dev, path }];
      const resources = (spec.linux.resources ??= {});
      resources.devices = [...(resources.devices ?? []), { allow: true, type: dev.type, major: dev.major, minor: dev.minor, access: d.permissions || 'rwm' }];
    }
  }
}

/**
 * The OCI resources of a CRI LinuxContainerResources (what is 0 or empty is not set); the memory
 * limit is the swap limit too unless one is given, so that the container does not swap (where
 * the host accounts swap).
 */
export function ociResources(r: LinuxContainerResources__Output | null, hugetlb = hasHugetlbController(), swap = hasSwapController()): ContainerResources {
  const out: ContainerResources = {};
  if (!r) return out;
  const cpu: NonNullable<ContainerResources['cpu']> = {};
  if (Number(r.cpu_shares) > 0) cpu.shares = Number(r.cpu_shares);
  if (Number(r.cpu_quota) !== 0) cpu.quota = Number(r.cpu_quota);
  if (Number(r.cpu_period) > 0) cpu.period = Number(r.cpu_period);
  if (r.cpuset_cpus) cpu.cpus = r.cpuset_cpus;
  if (r.cpuset_mems) cpu.mems = r.cpuset_mems;
  if (Object.keys(cpu).length > 0) out.cpu = cpu;
  const limit = Number(r.memory_limit_in_bytes);
  const swapLimit = Number(r.memory_swap_limit_in_bytes);
  // no swap accounting (cgroup v1 without memsw): runc could not set one, so none (as containerd)
  if (limit > 0) out.memory = swap ? { limit, swap: swapLimit > 0 ? swapLimit : limit } : { limit };
  // containerd's tolerate_missing_hugetlb_controller (on by default): without the controller runc would fail
  if (r.hugepage_limits.length > 0 && hugetlb) out.hugepageLimits = r.hugepage_limits.map((h) => ({ pageSize: h.page_size, limit: Number(h.limit) }));
  if (Object.keys(r.unified).length > 0) out.unified = { ...r.unified };
  return out;
}

let hugetlbController: boolean | undefined;
let swapController: boolean | undefined;

/** Whether the memory controller accounts swap: cgroup v2 (runc leaves an absent swap file alone), or v1's memsw files. */
function hasSwapController(): boolean {
  swapController ??= existsSync('/sys/fs/cgroup/cgroup.controllers') || existsSync('/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes');
  return swapController;
}

/** Whether the host has the hugetlb cgroup controller (cgroup v1's hierarchy, or among v2's controllers). */
function hasHugetlbController(): boolean {
  if (hugetlbController === undefined) {
    let v2 = '';
    try {
      v2 = readFileSync('/sys/fs/cgroup/cgroup.controllers', 'utf8');
    } catch {
      // cgroup v1 (or hybrid)
    }
    hugetlbController = v2 ? v2.split(/\s+/).includes('hugetlb') : existsSync('/sys/fs/cgroup/hugetlb');
  }
  return hugetlbController;
}
