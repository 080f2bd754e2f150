import { release } from 'node:os';
import { goArch } from '../platform.ts';
import type { LinuxSeccomp, SeccompArg, SeccompSyscall } from './types.ts';

/**
 * Seccomp for the containers berth's clients build: the default profile, and profiles given
 * as files (an OCI LinuxSeccomp, or Docker's format with its archMap and per-rule
 * includes/excludes, resolved for this host and the container's capabilities as Docker does).
 *
 * The default is containerd's (contrib/seccomp DefaultProfile) as of containerd 2.0: the 1.7
 * profile without io_uring_setup/enter/register (moby's default dropped them too) and with the
 * kernel 6.8+ syscalls, which libseccomp 2.5.4 does not know and runc skips. Everything not
 * listed fails with EPERM. Like Docker's, it sets defaultErrnoRet to 1 explicitly (runc's
 * default for SCMP_ACT_ERRNO is EPERM as well). Nothing here is CLI-specific: a CRI server
 * builds the same profile for a container from its bounding capabilities.
 */

/** Syscalls every container may make, whatever its capabilities. */
const allowed: readonly string[] = [
  'accept',
  'accept4',
  'access',
  'adjtimex',
  'alarm',
  'bind',
  'brk',
  'cachestat',
  'capget',
  'capset',
  'chdir',
  'chmod',
  'chown',
  'chown32',
  'clock_adjtime',
  'clock_adjtime64',
  'clock_getres',
  'clock_getres_time64',
  'clock_gettime',
  'clock_gettime64',
  'clock_nanosleep',
  'clock_nanosleep_time64',
  'close',
  'close_range',
  'connect',
  'copy_file_range',
  'creat',
  'dup',
  'dup2',
  'dup3',
  'epoll_create',
  'epoll_create1',
  'epoll_ctl',
  'epoll_ctl_old',
  'epoll_pwait',
  'epoll_pwait2',
  'epoll_wait',
  'epoll_wait_old',
  'eventfd',
  'eventfd2',
  'execve',
  'execveat',
  'exit',
  'exit_group',
  'faccessat',
  'faccessat2',
  'fadvise64',
  'fadvise64_64',
  'fallocate',
  'fanotify_mark',
  'fchdir',
  'fchmod',
  'fchmodat',
  'fchmodat2',
  'fchown',
  'fchown32',
  'fchownat',
  'fcntl',
  'fcntl64',
  'fdatasync',
  'fgetxattr',
  'flistxattr',
  'flock',
  'fork',
  'fremovexattr',
  'fsetxattr',
  'fstat',
  'fstat64',
  'fstatat64',
  'fstatfs',
  'fstatfs64',
  'fsync',
  'ftruncate',
  'ftruncate64',
  'futex',
  'futex_requeue',
  'futex_time64',
  'futex_wait',
  'futex_waitv',
  'futex_wake',
  'futimesat',
  'getcpu',
  'getcwd',
  'getdents',
  'getdents64',
  'getegid',
  'getegid32',
  'geteuid',
  'geteuid32',
  'getgid',
  'getgid32',
  'getgroups',
  'getgroups32',
  'getitimer',
  'getpeername',
  'getpgid',
  'getpgrp',
  'getpid',
  'getppid',
  'getpriority',
  'getrandom',
  'getresgid',
  'getresgid32',
  'getresuid',
  'getresuid32',
  'getrlimit',
  'get_robust_list',
  'getrusage',
  'getsid',
  'getsockname',
  'getsockopt',
  'get_thread_area',
  'gettid',
  'gettimeofday',
  'getuid',
  'getuid32',
  'getxattr',
  'getxattrat',
  'inotify_add_watch',
  'inotify_init',
  'inotify_init1',
  'inotify_rm_watch',
  'io_cancel',
  'ioctl',
  'io_destroy',
  'io_getevents',
  'io_pgetevents',
  'io_pgetevents_time64',
  'ioprio_get',
  'ioprio_set',
  'io_setup',
  'io_submit',
  'ipc',
  'kill',
  'landlock_add_rule',
  'landlock_create_ruleset',
  'landlock_restrict_self',
  'lchown',
  'lchown32',
  'lgetxattr',
  'link',
  'linkat',
  'listen',
  'listmount',
  'listxattr',
  'listxattrat',
  'llistxattr',
  '_llseek',
  'lremovexattr',
  'lseek',
  'lsetxattr',
  'lsm_get_self_attr',
  'lsm_list_modules',
  'lsm_set_self_attr',
  'lstat',
  'lstat64',
  'madvise',
  'membarrier',
  'memfd_create',
  'memfd_secret',
  'mincore',
  'mkdir',
  'mkdirat',
  'mknod',
  'mknodat',
  'mlock',
  'mlock2',
  'mlockall',
  'map_shadow_stack',
  'mmap',
  'mmap2',
  'mprotect',
  'mq_getsetattr',
  'mq_notify',
  'mq_open',
  'mq_timedreceive',
  'mq_timedreceive_time64',
  'mq_timedsend',
  'mq_timedsend_time64',
  'mq_unlink',
  'mremap',
  'mseal',
  'msgctl',
  'msgget',
  'msgrcv',
  'msgsnd',
  'msync',
  'munlock',
  'munlockall',
  'munmap',
  'name_to_handle_at',
  'nanosleep',
  'newfstatat',
  '_newselect',
  'open',
  'openat',
  'openat2',
  'pause',
  'pidfd_open',
  'pidfd_send_signal',
  'pipe',
  'pipe2',
  'pkey_alloc',
  'pkey_free',
  'pkey_mprotect',
  'poll',
  'ppoll',
  'ppoll_time64',
  'prctl',
  'pread64',
  'preadv',
  'preadv2',
  'prlimit64',
  'process_mrelease',
  'pselect6',
  'pselect6_time64',
  'pwrite64',
  'pwritev',
  'pwritev2',
  'read',
  'readahead',
  'readlink',
  'readlinkat',
  'readv',
  'recv',
  'recvfrom',
  'recvmmsg',
  'recvmmsg_time64',
  'recvmsg',
  'remap_file_pages',
  'removexattr',
  'removexattrat',
  'rename',
  'renameat',
  'renameat2',
  'restart_syscall',
  'rmdir',
  'rseq',
  'rt_sigaction',
  'rt_sigpending',
  'rt_sigprocmask',
  'rt_sigqueueinfo',
  'rt_sigreturn',
  'rt_sigsuspend',
  'rt_sigtimedwait',
  'rt_sigtimedwait_time64',
  'rt_tgsigqueueinfo',
  'sched_getaffinity',
  'sched_getattr',
  'sched_getparam',
  'sched_get_priority_max',
  'sched_get_priority_min',
  'sched_getscheduler',
  'sched_rr_get_interval',
  'sched_rr_get_interval_time64',
  'sched_setaffinity',
  'sched_setattr',
  'sched_setparam',
  'sched_setscheduler',
  'sched_yield',
  'seccomp',
  'select',
  'semctl',
  'semget',
  'semop',
  'semtimedop',
  'semtimedop_time64',
  'send',
  'sendfile',
  'sendfile64',
  'sendmmsg',
  'sendmsg',
  'sendto',
  'setfsgid',
  'setfsgid32',
  'setfsuid',
  'setfsuid32',
  'setgid',
  'setgid32',
  'setgroups',
  'setgroups32',
  'setitimer',
  'setpgid',
  'setpriority',
  'setregid',
  'setregid32',
  'setresgid',
  'setresgid32',
  'setresuid',
  'setresuid32',
  'setreuid',
  'setreuid32',
  'setrlimit',
  'set_robust_list',
  'setsid',
  'setsockopt',
  'set_thread_area',
  'set_tid_address',
  'setuid',
  'setuid32',
  'setxattr',
  'setxattrat',
  'shmat',
  'shmctl',
  'shmdt',
  'shmget',
  'shutdown',
  'sigaltstack',
  'signalfd',
  'signalfd4',
  'sigprocmask',
  'sigreturn',
  'socketcall',
  'socketpair',
  'splice',
  'stat',
  'stat64',
  'statfs',
  'statfs64',
  'statmount',
  'statx',
  'symlink',
  'symlinkat',
  'sync',
  'sync_file_range',
  'syncfs',
  'sysinfo',
  'tee',
  'tgkill',
  'time',
  'timer_create',
  'timer_delete',
  'timer_getoverrun',
  'timer_gettime',
  'timer_gettime64',
  'timer_settime',
  'timer_settime64',
  'timerfd_create',
  'timerfd_gettime',
  'timerfd_gettime64',
  'timerfd_settime',
  'timerfd_settime64',
  'times',
  'tkill',
  'truncate',
  'truncate64',
  'ugetrlimit',
  'umask',
  'uname',
  'unlink',
  'unlinkat',
  'uretprobe',
  'utime',
  'utimensat',
  'utimensat_time64',
  'utimes',
  'vfork',
  'vmsplice',
  'wait4',
  'waitid',
  'waitpid',
  'write',
  'writev',
];

/** The host a profile is made for: Node's process.arch and the kernel release (uname -r). */
export interface SeccompHost {
  arch: string;
  kernel: string;
}

export const thisHost = (): SeccompHost => ({ arch: process.arch, kernel: release() });

// Where Docker's profiles name an architecture (in includes/excludes) other than GOARCH does.
const seccompArchNames: Record<string, string> = { '386': 'x86', loong64: 'loongarch64' };

/** Node's process.arch as Docker's profiles name architectures. */
function nativeArch(nodeArch: string): string {
  const arch = goArch(nodeArch);
  return seccompArchNames[arch] ?? arch;
}

/** The seccomp architectures a native one also runs (its compat ABIs), as containerd lists them. */
const scmpArches: Record<string, string[]> = {
  amd64: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
  arm64: ['SCMP_ARCH_ARM', 'SCMP_ARCH_AARCH64'],
  s390x: ['SCMP_ARCH_S390', 'SCMP_ARCH_S390X'],
  riscv64: ['SCMP_ARCH_RISCV64'],
  loongarch64: ['SCMP_ARCH_LOONGARCH64'],
};

/** The seccomp name of a native architecture (what archMap entries are keyed by). */
const scmpNative: Record<string, string> = {
  amd64: 'SCMP_ARCH_X86_64',
  x86: 'SCMP_ARCH_X86',
  arm: 'SCMP_ARCH_ARM',
  arm64: 'SCMP_ARCH_AARCH64',
  ppc64le: 'SCMP_ARCH_PPC64LE',
  s390x: 'SCMP_ARCH_S390X',
  riscv64: 'SCMP_ARCH_RISCV64',
  loongarch64: 'SCMP_ARCH_LOONGARCH64',
};

/** Architecture-specific syscalls the default allows. */
const archSyscalls: Record<string, string[]> = {
  amd64: ['arch_prctl', 'modify_ldt'],
  x86: ['modify_ldt'],
  arm: ['arm_fadvise64_64', 'arm_sync_file_range', 'sync_file_range2', 'breakpoint', 'cacheflush', 'set_tls'],
  arm64: ['arm_fadvise64_64', 'arm_sync_file_range', 'sync_file_range2', 'breakpoint', 'cacheflush', 'set_tls'],
  ppc64le: ['sync_file_range2', 'swapcontext'],
  s390x: ['s390_pci_mmio_read', 's390_pci_mmio_write', 's390_runtime_instr'],
  riscv64: ['riscv_flush_icache', 'riscv_hwprobe'],
};

/** Syscalls the default allows to a container whose bounding set holds the capability. */
const capabilitySyscalls: Record<string, string[]> = {
  CAP_DAC_READ_SEARCH: ['open_by_handle_at'],
  CAP_SYS_ADMIN: [
    'bpf',
    'clone',
    'clone3',
    'fanotify_init',
    'fsconfig',
    'fsmount',
    'fsopen',
    'fspick',
    'lookup_dcookie',
    'mount',
    'mount_setattr',
    'move_mount',
    'open_tree',
    'perf_event_open',
    'quotactl',
    'quotactl_fd',
    'setdomainname',
    'sethostname',
    'setns',
    'syslog',
    'umount',
    'umount2',
    'unshare',
  ],
  CAP_SYS_BOOT: ['reboot'],
  CAP_SYS_CHROOT: ['chroot'],
  CAP_SYS_MODULE: ['delete_module', 'init_module', 'finit_module'],
  CAP_SYS_PACCT: ['acct'],
  CAP_SYS_PTRACE: ['kcmp', 'pidfd_getfd', 'process_madvise', 'process_vm_readv', 'process_vm_writev', 'ptrace'],
  CAP_SYS_RAWIO: ['iopl', 'ioperm'],
  CAP_SYS_TIME: ['settimeofday', 'stime', 'clock_settime', 'clock_settime64'],
  CAP_SYS_TTY_CONFIG: ['vhangup'],
  CAP_SYS_NICE: ['get_mempolicy', 'mbind', 'set_mempolicy', 'set_mempolicy_home_node'],
  CAP_SYSLOG: ['syslog'],
  CAP_BPF: ['bpf'],
  CAP_PERFMON: ['perf_event_open'],
};

const AF_ALG = 38;
const AF_VSOCK = 40;
/** CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET */
const cloneNamespaceFlags = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000;
const ENOSYS = 38;

const allow = (names: string[], args?: SeccompArg[]): SeccompSyscall => ({ names, action: 'SCMP_ACT_ALLOW', ...(args ? { args } : {}) });
const arg0 = (op: string, value: number): SeccompArg[] => [{ index: 0, value, op }];

/** "6.1.0-13-amd64" is at least major.minor */
function kernelAtLeast(release: string, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (!m) return false;
  const [have, haveMinor] = [Number(m[1]), Number(m[2])];
  return have > major || (have === major && haveMinor >= minor);
}

/**
 * The default profile for a container with these bounding capabilities (so it must be built
 * after --cap-add, --cap-drop and --privileged have settled them).
 */
export function defaultSeccompProfile(bounding: readonly string[], host: SeccompHost = thisHost()): LinuxSeccomp {
  const arch = nativeArch(host.arch);
  const syscalls: SeccompSyscall[] = [
    allow([...allowed]),
    // socket(2) for every address family but AF_ALG and AF_VSOCK: three single-condition
    // rules, because runc ORs several conditions on one argument
    allow(['socket'], arg0('SCMP_CMP_LT', AF_ALG)),
    allow(['socket'], arg0('SCMP_CMP_EQ', AF_ALG + 1)),
    allow(['socket'], arg0('SCMP_CMP_GT', AF_VSOCK)),
    // PER_LINUX, PER_LINUX32, UNAME26, PER_LINUX32|UNAME26, and the 0xffffffff query
    ...[0x0, 0x0008, 0x20000, 0x20008, 0xffffffff].map((p) => allow(['personality'], arg0('SCMP_CMP_EQ', p))),
  ];
  if (kernelAtLeast(host.kernel, 4, 8)) syscalls.push(allow(['process_vm_readv', 'process_vm_writev', 'ptrace']));
  if (archSyscalls[arch]) syscalls.push(allow([...archSyscalls[arch]]));
  for (const cap of bounding) if (capabilitySyscalls[cap]) syscalls.push(allow([...capabilitySyscalls[cap]]));
  if (!bounding.includes('CAP_SYS_ADMIN')) {
    // clone without namespace flags (s390 has the flags in the second argument)
    const index = arch === 's390x' ? 1 : 0;
    syscalls.push(allow(['clone'], [{ index, value: cloneNamespaceFlags, op: 'SCMP_CMP_MASKED_EQ' }]));
    // ENOSYS, not EPERM, so that a libc falls back to clone (moby#42681)
    syscalls.push({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS });
  }
  return { defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 1, architectures: [...(scmpArches[arch] ?? [])], syscalls };
}

/** What a profile file may say about where a rule applies (Docker's format). */
interface RuleFilter {
  caps?: string[];
  arches?: string[];
  minKernel?: string;
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');
const isUint = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/**
 * A profile file's JSON as the spec's LinuxSeccomp: an OCI LinuxSeccomp is taken as it is; in
 * Docker's format, archMap picks the architectures of this host, and a rule whose
 * includes/excludes (capabilities, architectures, minimum kernel) do not fit this host and
 * these bounding capabilities is left out, as Docker's setupSeccomp does. (containerd reads
 * both as a LinuxSeccomp and would keep every conditional rule unconditionally.)
 */
export function loadSeccompProfile(text: string, from: string, bounding: readonly string[], host: SeccompHost = thisHost()): LinuxSeccomp {
  const bad = (why: string) => new Error(`seccomp profile ${from}: ${why}`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw bad(`not valid JSON: ${(err as Error).message}`);
  }
  if (!isObject(doc)) throw bad('not a JSON object');
  if (typeof doc.defaultAction !== 'string' || doc.defaultAction === '') throw bad('no defaultAction');
  if (doc.architectures !== undefined && doc.archMap !== undefined) throw bad('has both architectures and archMap');
  const out: LinuxSeccomp = { defaultAction: doc.defaultAction };
  if (doc.defaultErrnoRet !== undefined) {
    if (!isUint(doc.defaultErrnoRet)) throw bad('defaultErrnoRet is not an errno number');
    out.defaultErrnoRet = doc.defaultErrnoRet;
  }
  const arch = nativeArch(host.arch);
  if (doc.architectures !== undefined) {
    if (!isStrings(doc.architectures)) throw bad('architectures is not a list of strings');
    out.architectures = [...doc.architectures];
  } else if (doc.archMap !== undefined) {
    if (!Array.isArray(doc.archMap)) throw bad('archMap is not a list');
    const native = scmpNative[arch];
    for (const entry of doc.archMap as unknown[]) {
      if (!isObject(entry) || typeof entry.architecture !== 'string') throw bad('an archMap entry has no architecture');
      if (entry.architecture !== native) continue;
      const subs = entry.subArchitectures ?? [];
      if (!isStrings(subs)) throw bad('subArchitectures is not a list of strings');
      out.architectures = [entry.architecture, ...subs];
      break;
    }
  }
  for (const key of ['flags'] as const) {
    if (doc[key] === undefined) continue;
    if (!isStrings(doc[key])) throw bad(`${key} is not a list of strings`);
    out[key] = [...doc[key]];
  }
  for (const key of ['listenerPath', 'listenerMetadata'] as const) {
    if (doc[key] === undefined) continue;
    if (typeof doc[key] !== 'string') throw bad(`${key} is not a string`);
    out[key] = doc[key];
  }
  if (doc.syscalls !== undefined && doc.syscalls !== null) {
    if (!Array.isArray(doc.syscalls)) throw bad('syscalls is not a list');
    const rules: SeccompSyscall[] = [];
    for (const [i, raw] of (doc.syscalls as unknown[]).entries()) {
      const rule = syscallRule(raw, (why) => bad(`syscalls[${i}]: ${why}`));
      if (rule.includes && !filterMatches(rule.includes, 'all', arch, bounding, host)) continue;
      if (rule.excludes && filterMatches(rule.excludes, 'any', arch, bounding, host)) continue;
      rules.push(rule.syscall);
    }
    out.syscalls = rules;
  }
  return out;
}

function syscallRule(raw: unknown, bad: (why: string) => Error): { syscall: SeccompSyscall; includes?: RuleFilter; excludes?: RuleFilter } {
  if (!isObject(raw)) throw bad('not an object');
  if (raw.name !== undefined && raw.names !== undefined) throw bad('has both name and names');
  const names = raw.name !== undefined ? [raw.name] : raw.names;
  if (!isStrings(names) || names.length === 0) throw bad('no syscall names');
  if (typeof raw.action !== 'string' || raw.action === '') throw bad('no action');
  const syscall: SeccompSyscall = { names: [...names], action: raw.action };
  if (raw.errnoRet !== undefined) {
    if (!isUint(raw.errnoRet)) throw bad('errnoRet is not an errno number');
    syscall.errnoRet = raw.errnoRet;
  }
  if (raw.args !== undefined && raw.args !== null) {
    if (!Array.isArray(raw.args)) throw bad('args is not a list');
    const args = (raw.args as unknown[]).map((a) => {
      if (!isObject(a) || !isUint(a.index) || !isUint(a.value) || (a.valueTwo !== undefined && !isUint(a.valueTwo)) || typeof a.op !== 'string') {
        throw bad('an argument rule needs a numeric index and value (and valueTwo) and an op');
      }
      return { index: a.index, value: a.value, ...(a.valueTwo ? { valueTwo: a.valueTwo } : {}), op: a.op };
    });
    if (args.length > 0) syscall.args = args;
  }
  const filter = (v: unknown, what: string): RuleFilter | undefined => {
    if (v === undefined || v === null) return undefined;
    if (!isObject(v)) throw bad(`${what} is not an object`);
    if (v.caps !== undefined && !isStrings(v.caps)) throw bad(`${what}.caps is not a list of strings`);
    if (v.arches !== undefined && !isStrings(v.arches)) throw bad(`${what}.arches is not a list of strings`);
    if (v.minKernel !== undefined && (typeof v.minKernel !== 'string' || !/^\d+\.\d+$/.test(v.minKernel)))
      throw bad(`${what}.minKernel is not "<kernel>.<major>"`);
    return { caps: v.caps as string[] | undefined, arches: v.arches as string[] | undefined, minKernel: v.minKernel as string | undefined };
  };
  return { syscall, includes: filter(raw.includes, 'includes'), excludes: filter(raw.excludes, 'excludes') };
}

/**
 * Whether a rule's includes (`all`: every condition given holds) or excludes (`any`: one of
 * them holds) fit this host and capability set.
 */
function filterMatches(f: RuleFilter, mode: 'all' | 'any', arch: string, bounding: readonly string[], host: SeccompHost): boolean {
  const results: boolean[] = [];
  if (f.arches && f.arches.length > 0) results.push(f.arches.includes(arch));
  if (f.caps && f.caps.length > 0) results.push(mode === 'all' ? f.caps.every((c) => bounding.includes(c)) : f.caps.some((c) => bounding.includes(c)));
  if (f.minKernel) {
    const [major, minor] = f.minKernel.split('.').map(Number) as [number, number];
    results.push(kernelAtLeast(host.kernel, major, minor));
  }
  return mode === 'all' ? results.every(Boolean) : results.some(Boolean);
}
