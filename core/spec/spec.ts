import { type BigIntStats, lstatSync, readdirSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { posix } from 'node:path';
import { currentCapabilities } from './caps.ts';
import { defaultSeccompProfile, loadSeccompProfile } from './seccomp.ts';
import type { DeviceCgroup, ImageConfig, LinuxDevice, Spec, SpecMount } from './types.ts';
import { Accounts, resolveUser } from './user.ts';

/**
 * The OCI runtime spec as containerd 1.6's client builds it for `ctr run` / `ctr containers
 * create`: oci.WithDefaultSpec and WithDefaultUnixDevices, then the ctr options in the order
 * ctr applies them (cmd/ctr/commands/run/run_unix.go NewContainer), with berth's extra flags
 * (--user, --hostname, --pids-limit) where they fit. Secure by default where containerd 1.7
 * is: a seccomp profile (seccomp.ts; ctr 1.6 adds it only with --seccomp) and 1.7's masked
 * paths.
 */

export const specVersion = '1.0.2-dev';
export const defaultPath = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const defaultCaps = () => [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

export function defaultMounts(): SpecMount[] {
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    { destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
  ];
}

/** oci.populateDefaultUnixSpec followed by oci.WithDefaultUnixDevices. */
export function defaultSpec(namespace: string, id: string): Spec {
  const c = (major: number, minor?: number): DeviceCgroup => ({ allow: true, type: 'c', major, ...(minor === undefined ? {} : { minor }), access: 'rwm' });
  return {
    ociVersion: specVersion,
    process: {
      user: { uid: 0, gid: 0 },
      cwd: '/',
      capabilities: { bounding: defaultCaps(), effective: defaultCaps(), permitted: defaultCaps() },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: 'rootfs' },
    mounts: defaultMounts(),
    linux: {
      resources: {
        devices: [{ allow: false, access: 'rwm' }, c(1, 3), c(1, 8), c(1, 7), c(5, 0), c(1, 5), c(1, 9), c(5, 1), c(136), c(5, 2)],
      },
      cgroupsPath: posix.join('/', namespace, id),
      namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'network' }],
      maskedPaths: [
        '/proc/acpi',
        '/proc/asound',
        '/proc/kcore',
        '/proc/keys',
        '/proc/latency_stats',
        '/proc/timer_list',
        '/proc/timer_stats',
        '/proc/sched_debug',
        '/sys/firmware',
        '/sys/devices/virtual/powercap',
        '/proc/scsi',
      ],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}

/** What the command line asks for; every field is optional. */
export interface SpecFlags {
  /** replaces the image's Entrypoint + Cmd entirely */
  args?: string[];
  env?: string[];
  /** lines of an --env-file, applied before --env */
  envFile?: string[];
  cwd?: string;
  /** overrides the image's USER (same syntax) */
  user?: string;
  mounts?: SpecMount[];
  tty?: boolean;
  /**
   * with tty: the pty's size from the start (oci.WithTTYSize), so that the process never sees
   * a 0x0 terminal before the first ResizePty
   */
  consoleSize?: { width: number; height: number };
  netHost?: boolean;
  hostname?: string;
  memoryLimit?: number;
  cpus?: number;
  /** `ctr run` always sets 1024 (its --cpu-shares default), `ctr containers create` none */
  cpuShares?: number;
  pidsLimit?: number;
  readOnly?: boolean;
  privileged?: boolean;
  /** normalised names (CAP_…); see caps.ts */
  capAdd?: string[];
  capDrop?: string[];
  /** --label values: they become annotations too */
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /**
   * none: the default profile; 'unconfined': no seccomp; or a profile file's text (OCI
   * LinuxSeccomp or Docker's format). --privileged overrides all three, as in Docker.
   */
  seccomp?: 'unconfined' | { profile: string; from: string };
}

export interface SpecInput {
  namespace: string;
  id: string;
  /** the image config's `config` object (none when not from an image) */
  image?: ImageConfig;
  /**
   * the container's root file system, mounted read-only, to read /etc/passwd and /etc/group
   * from; undefined reads as an image without them
   */
  rootfs?: string;
  /** the image's accounts read already (instead of rootfs) */
  accounts?: Accounts;
  flags?: SpecFlags;
  /** for --net-host's HOSTNAME (default: this host's name) */
  hostHostname?: string;
  /** for --privileged (default: this process's effective capabilities, /dev) */
  privileged?: { capabilities?: string[]; devices?: LinuxDevice[] };
}

/** containerd's replaceOrAppendEnvValues: overrides replace by key, a bare KEY removes it. */
export function mergeEnv(defaults: readonly string[], overrides: readonly string[]): string[] {
  const results = [...defaults];
  const index = new Map<string, number>();
  for (const [i, e] of defaults.entries()) index.set(e.split('=', 1)[0]!, i);
  const removed = new Set<number>();
  for (const value of overrides) {
    const eq = value.indexOf('=');
    if (eq < 0) {
      const i = index.get(value);
      if (i !== undefined) removed.add(i);
      continue;
    }
    const i = index.get(value.slice(0, eq));
    if (i !== undefined) {
      results[i] = value;
      removed.delete(i);
    } else results.push(value);
  }
  return results.filter((e, i) => !removed.has(i) && e !== '');
}

/**
 * A working directory from the image or the command line: it must be absolute, and is cleaned
 * (path.Clean) so that `..` cannot climb above `/`.
 */
export function cleanCwd(dir: string, from: string): string {
  if (!dir.startsWith('/')) throw new Error(`${from} "${dir}" is not an absolute path`);
  if (dir.includes('\0')) throw new Error(`${from} contains a NUL byte`);
  const clean = posix.normalize(dir);
  return clean.length > 1 && clean.endsWith('/') ? clean.slice(0, -1) : clean;
}

/**
 * A bind mount asked for without `bind` or `rbind` among its options is recursive, as Docker's
 * `-v` and `--mount type=bind` are (the kernel refuses a "bind" type without the flag: ENODEV).
 */
function bindByDefault(m: SpecMount): SpecMount {
  if (m.type === 'volume') throw new Error(`a volume mount (${m.source || 'anonymous'} at ${m.destination}) needs berthd's run: use berth run`);
  if ((m.type ?? 'bind') !== 'bind' || !m.source) return m;
  const options = m.options ?? [];
  return options.includes('bind') || options.includes('rbind') ? { ...m, type: 'bind' } : { ...m, type: 'bind', options: ['rbind', ...options] };
}

/** Builds the spec; throws an Error with a one-line message on bad input. */
export function buildSpec(input: SpecInput): Spec {
  const f = input.flags ?? {};
  const s = defaultSpec(input.namespace, input.id);
  const p = s.process!;
  const linux = s.linux!;
  const res = linux.resources!;

  if (f.envFile && f.envFile.length > 0) p.env = mergeEnv(p.env ?? [], f.envFile);
  if (f.env && f.env.length > 0) p.env = mergeEnv(p.env ?? [], f.env);
  if (f.mounts && f.mounts.length > 0) s.mounts!.push(...f.mounts.map(bindByDefault));

  const accounts = input.accounts ?? new Accounts(input.rootfs);
  if (input.image) {
    const config = input.image;
    const imageEnv = config.Env && config.Env.length > 0 ? config.Env : [defaultPath];
    p.env = mergeEnv(imageEnv, p.env ?? []);
    p.args = [...(config.Entrypoint ?? []), ...(config.Cmd ?? [])];
    p.cwd = config.WorkingDir ? cleanCwd(config.WorkingDir, "the image's WorkingDir") : '/';
  }
  // --user replaces the image's USER; resolving it (and the groups of root when there is
  // none) needs the image's /etc/passwd and /etc/group, as WithImageConfig does
  p.user = resolveUser(accounts, f.user || input.image?.User || undefined);

  if (f.readOnly) s.root!.readonly = true;
  if (f.args && f.args.length > 0) p.args = [...f.args];
  if (f.cwd) p.cwd = cleanCwd(f.cwd, '--cwd');
  if (f.tty) {
    p.terminal = true;
    p.env = [...(p.env ?? []), 'TERM=xterm'];
    if (f.consoleSize) p.consoleSize = { height: f.consoleSize.height, width: f.consoleSize.width };
  }
  if (f.privileged) {
    const caps = input.privileged?.capabilities ?? currentCapabilities();
    p.capabilities = { bounding: [...caps], effective: [...caps], permitted: [...caps] };
    delete linux.maskedPaths;
    delete linux.readonlyPaths;
    for (const m of s.mounts!) {
      if (m.type === 'sysfs' || m.type === 'cgroup') m.options = m.options?.map((o) => (o === 'ro' ? 'rw' : o));
    }
    delete p.selinuxLabel;
    delete p.apparmorProfile;
    res.devices = [{ allow: true, access: 'rwm' }];
    linux.devices = [...(linux.devices ?? []), ...(input.privileged?.devices ?? hostDevices())];
  }
  if (f.netHost) {
    linux.namespaces = linux.namespaces!.filter((n) => n.type !== 'network');
    s.mounts!.push(
      { destination: '/etc/hosts', type: 'bind', source: '/etc/hosts', options: ['rbind', 'ro'] },
      { destination: '/etc/resolv.conf', type: 'bind', source: '/etc/resolv.conf', options: ['rbind', 'ro'] },
    );
    p.env = mergeEnv(p.env ?? [], [`HOSTNAME=${input.hostHostname ?? osHostname()}`]);
  }
  if (f.hostname) s.hostname = f.hostname;
  if (f.annotations) s.annotations = { ...s.annotations, ...f.annotations };
  const caps = p.capabilities!;
  const sets = ['bounding', 'effective', 'permitted'] as const;
  for (const cap of f.capAdd ?? []) {
    for (const set of sets) {
      const list = (caps[set] ??= []);
      if (!list.includes(cap)) list.push(cap);
    }
  }
  for (const cap of f.capDrop ?? []) {
    for (const set of sets) {
      const list = caps[set]?.filter((c) => c !== cap);
      if (list && list.length > 0) caps[set] = list;
      else delete caps[set];
    }
  }
  // after the capabilities are settled: the profile allows more to a container that has more
  if (!f.privileged && f.seccomp !== 'unconfined') {
    const bounding = caps.bounding ?? [];
    linux.seccomp = f.seccomp ? loadSeccompProfile(f.seccomp.profile, f.seccomp.from, bounding) : defaultSeccompProfile(bounding);
  }
  if (f.cpus !== undefined && f.cpus > 0) {
    res.cpu = { ...res.cpu, quota: Math.trunc(f.cpus * 100000), period: 100000 };
  }
  if (f.cpuShares !== undefined && f.cpuShares > 0) res.cpu = { ...res.cpu, shares: f.cpuShares };
  if (f.memoryLimit !== undefined && f.memoryLimit !== 0) res.memory = { ...res.memory, limit: f.memoryLimit };
  if (f.pidsLimit !== undefined && f.pidsLimit !== 0) res.pids = { limit: f.pidsLimit };
  if (f.labels && Object.keys(f.labels).length > 0) s.annotations = { ...s.annotations, ...f.labels };
  if (!p.args || p.args.length === 0) throw new Error('no command to run: the image has no Entrypoint or Cmd, so give one after the container id');
  return goFieldOrder(s, 'spec') as Spec;
}

/**
 * Key order of the runtime-spec Go structs, so that the JSON berth sends (and the daemon
 * writes as config.json) reads as ctr's does: [key, kind of its value (for nested objects, or
 * arrays of objects)].
 */
const goOrder: Record<string, [string, string?][]> = {
  spec: [
    ['ociVersion'],
    ['process', 'process'],
    ['root', 'root'],
    ['hostname'],
    ['domainname'],
    ['mounts', 'mount'],
    ['hooks'],
    ['annotations'],
    ['linux', 'linux'],
  ],
  process: [
    ['terminal'],
    ['consoleSize', 'box'],
    ['user', 'user'],
    ['args'],
    ['commandLine'],
    ['env'],
    ['cwd'],
    ['capabilities', 'caps'],
    ['rlimits', 'rlimit'],
    ['noNewPrivileges'],
    ['apparmorProfile'],
    ['oomScoreAdj'],
    ['selinuxLabel'],
  ],
  box: [['height'], ['width']],
  user: [['uid'], ['gid'], ['umask'], ['additionalGids'], ['username']],
  caps: [['bounding'], ['effective'], ['inheritable'], ['permitted'], ['ambient']],
  rlimit: [['type'], ['hard'], ['soft']],
  root: [['path'], ['readonly']],
  mount: [['destination'], ['type'], ['source'], ['options']],
  linux: [
    ['uidMappings'],
    ['gidMappings'],
    ['sysctl'],
    ['resources', 'resources'],
    ['cgroupsPath'],
    ['namespaces', 'namespace'],
    ['devices', 'device'],
    ['seccomp', 'seccomp'],
    ['rootfsPropagation'],
    ['maskedPaths'],
    ['readonlyPaths'],
    ['mountLabel'],
    ['intelRdt'],
    ['personality'],
  ],
  resources: [['devices', 'devcgroup'], ['memory', 'memory'], ['cpu', 'cpu'], ['pids'], ['blockIO'], ['hugepageLimits'], ['network'], ['rdma'], ['unified']],
  devcgroup: [['allow'], ['type'], ['major'], ['minor'], ['access']],
  memory: [['limit'], ['reservation'], ['swap'], ['kernel'], ['kernelTCP'], ['swappiness'], ['disableOOMKiller'], ['useHierarchy']],
  cpu: [['shares'], ['quota'], ['period'], ['realtimeRuntime'], ['realtimePeriod'], ['cpus'], ['mems']],
  namespace: [['type'], ['path']],
  device: [['path'], ['type'], ['major'], ['minor'], ['fileMode'], ['uid'], ['gid']],
  seccomp: [['defaultAction'], ['defaultErrnoRet'], ['architectures'], ['flags'], ['listenerPath'], ['listenerMetadata'], ['syscalls', 'syscall']],
  syscall: [['names'], ['action'], ['errnoRet'], ['args', 'seccompArg']],
  seccompArg: [['index'], ['value'], ['valueTwo'], ['op']],
};

function goFieldOrder(value: unknown, kind: string): unknown {
  if (Array.isArray(value)) return value.map((v) => goFieldOrder(v, kind));
  const fields = goOrder[kind];
  if (!fields || value === null || typeof value !== 'object') return value;
  const src = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, sub] of fields) if (src[key] !== undefined) out[key] = sub ? goFieldOrder(src[key], sub) : src[key];
  // anything the table does not know keeps its place after the known fields
  for (const [key, v] of Object.entries(src)) if (!(key in out) && v !== undefined) out[key] = v;
  return out;
}

/** Linux major/minor of a dev_t (glibc's gnu_dev_major / gnu_dev_minor). */
export function devNumbers(rdev: bigint): { major: number; minor: number } {
  const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
  const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
  return { major, minor };
}

/** oci.HostDevices: every block and char device under /dev, as containerd lists them. */
export function hostDevices(dir = '/dev'): LinuxDevice[] {
  const out: LinuxDevice[] = [];
  const skipDirs = new Set(['pts', 'shm', 'fd', 'mqueue', '.lxc', '.lxd-mounts', '.udev']);
  // os.ReadDir sorts by name (byte order)
  const names = readdirSync(dir).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  for (const name of names) {
    const path = posix.join(dir, name);
    let st: BigIntStats;
    try {
      st = lstatSync(path, { bigint: true });
    } catch {
      continue;
    }
    if (st.isDirectory()) {
      if (!skipDirs.has(name)) out.push(...hostDevices(path));
      continue;
    }
    if (name === 'console') continue;
    const type = st.isBlockDevice() ? 'b' : st.isCharacterDevice() ? 'c' : undefined;
    if (!type) continue;
    out.push({ path, type, ...devNumbers(st.rdev), fileMode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid) });
  }
  return out;
}

/**
 * JSON as Go's encoding/json writes it: <, >, & and the line/paragraph separators escaped
 * (they only ever occur inside strings, so the replacement is safe). With goFieldOrder's key
 * order, the bytes are the ones ctr would send.
 */
export function goJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
