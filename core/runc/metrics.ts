// Task metrics: a container's cgroup statistics as containerd's cgroups Metrics messages
// (io.containerd.cgroups.v1.Metrics on cgroup v1 and hybrid hosts, .v2.Metrics on pure
// cgroup v2 hosts), encoded for a google.protobuf.Any. Field meanings follow containerd's
// cgroups library so that `ctr task metrics` prints the same numbers.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packAny } from '../any.ts';
import { notFound } from '../errors.ts';

export const cgroupMount = '/sys/fs/cgroup';

/** Unsigned 64-bit values travel as decimal strings (protobufjs turns them into Longs). */
type U64 = string;
const maxU64: U64 = '18446744073709551615';

/** True on a pure cgroup v2 host (unified hierarchy mounted at /sys/fs/cgroup). */
export function isUnifiedHost(mount = cgroupMount): boolean {
  return existsSync(join(mount, 'cgroup.controllers'));
}

/**
 * The cgroup path a spec's linux.cgroupsPath names: a plain path as is, and the systemd
 * driver's "slice:prefix:name" form as the unit systemd creates
 * (system.slice/prefix-name.scope, a nested slice "a-b.slice" as a.slice/a-b.slice).
 */
export function cgroupDir(cgroupsPath: string): string {
  if (!/^[^/:]*:[^:]*:[^:]+$/.test(cgroupsPath)) return cgroupsPath.startsWith('/') ? cgroupsPath : `/${cgroupsPath}`;
  const [slice, prefix, name] = cgroupsPath.split(':');
  const unit = name.endsWith('.slice') ? name : `${prefix}-${name}.scope`;
  let dir = '/';
  if (slice === '') dir = '/system.slice';
  else if (slice !== '-.slice') {
    const words = slice.slice(0, -'.slice'.length).split('-');
    for (let i = 1; i <= words.length; i++) dir = join(dir, `${words.slice(0, i).join('-')}.slice`);
  }
  return join(dir, unit);
}

function read(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** A file holding one number ("max" meaning unlimited); undefined when absent. */
function readU64(file: string): U64 | undefined {
  const s = read(file)?.trim();
  if (s === undefined || s === '') return undefined;
  if (s === 'max') return maxU64;
  return /^\d+$/.test(s) ? s : undefined;
}

/** "key value" lines (memory.stat, cpu.stat, memory.events, ...). */
function readKeyed(file: string): Map<string, U64> {
  const m = new Map<string, U64>();
  for (const line of read(file)?.split('\n') ?? []) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v && /^\d+$/.test(v)) m.set(k, v);
  }
  return m;
}

/**
 * The metrics of the container whose spec set linux.cgroupsPath = `cgroupsPath`, encoded as
 * containerd's cgroups Metrics (the payload of a task metrics Any).
 * @throws NotFound when the container's cgroup does not exist
 */
export function taskMetrics(cgroupsPath: string, mount = cgroupMount): { type_url: string; value: Buffer } {
  const rel = cgroupDir(cgroupsPath);
  if (isUnifiedHost(mount)) {
    const dir = join(mount, rel);
    if (!existsSync(join(dir, 'cgroup.procs'))) throw notFound(`cgroup ${rel}`);
    return packAny('io.containerd.cgroups.v2.Metrics', v2Metrics(dir));
  }
  const ctrl = (name: string) => join(mount, name, rel);
  if (!['memory', 'pids', 'cpuacct', 'cpu', 'blkio'].some((c) => existsSync(join(ctrl(c), 'cgroup.procs')))) {
    throw notFound(`cgroup ${rel}`);
  }
  return packAny('io.containerd.cgroups.v1.Metrics', v1Metrics(ctrl));
}

// ------------------------------------------------------------------------------- v1

// memory.stat keys whose Metrics field name differs (the rest match as they are).
const v1MemoryRenames: Record<string, string> = {
  pgpgin: 'pg_pg_in',
  pgpgout: 'pg_pg_out',
  pgfault: 'pg_fault',
  pgmajfault: 'pg_maj_fault',
  total_pgpgin: 'total_pg_pg_in',
  total_pgpgout: 'total_pg_pg_out',
  total_pgfault: 'total_pg_fault',
  total_pgmajfault: 'total_pg_maj_fault',
  hierarchical_memsw_limit: 'hierarchical_swap_limit',
};
const v1MemoryFields = new Set([
  'cache',
  'rss',
  'rss_huge',
  'mapped_file',
  'dirty',
  'writeback',
  'pg_pg_in',
  'pg_pg_out',
  'pg_fault',
  'pg_maj_fault',
  'inactive_anon',
  'active_anon',
  'inactive_file',
  'active_file',
  'unevictable',
  'hierarchical_memory_limit',
  'hierarchical_swap_limit',
  'total_cache',
  'total_rss',
  'total_rss_huge',
  'total_mapped_file',
  'total_dirty',
  'total_writeback',
  'total_pg_pg_in',
  'total_pg_pg_out',
  'total_pg_fault',
  'total_pg_maj_fault',
  'total_inactive_anon',
  'total_active_anon',
  'total_inactive_file',
  'total_active_file',
  'total_unevictable',
]);

// USER_HZ: cpuacct.stat counts in clock ticks, which is 100 on every Linux ABI in use.
const clockTicks = 100n;

function v1Metrics(ctrl: (name: string) => string): Record<string, unknown> {
  const m: Record<string, unknown> = {};

  const pids = ctrl('pids');
  if (existsSync(pids)) {
    const limit = readU64(join(pids, 'pids.max'));
    m.pids = { current: readU64(join(pids, 'pids.current')) ?? '0', limit: limit === maxU64 ? '0' : (limit ?? '0') };
  }

  const acct = ctrl('cpuacct');
  const cpu = ctrl('cpu');
  if (existsSync(acct) || existsSync(cpu)) {
    const stat = readKeyed(join(acct, 'cpuacct.stat'));
    const ns = (ticks: U64 | undefined) => ((BigInt(ticks ?? '0') * 1_000_000_000n) / clockTicks).toString();
    const perCpu = (read(join(acct, 'cpuacct.usage_percpu')) ?? '')
      .trim()
      .split(/\s+/)
      .filter((v) => /^\d+$/.test(v));
    const throttle = readKeyed(join(cpu, 'cpu.stat'));
    m.cpu = {
      usage: { total: readU64(join(acct, 'cpuacct.usage')) ?? '0', kernel: ns(stat.get('system')), user: ns(stat.get('user')), per_cpu: perCpu },
      throttling: {
        periods: throttle.get('nr_periods') ?? '0',
        throttled_periods: throttle.get('nr_throttled') ?? '0',
        throttled_time: throttle.get('throttled_time') ?? '0',
      },
    };
  }

  const mem = ctrl('memory');
  if (existsSync(mem)) {
    const memory: Record<string, unknown> = {};
    for (const [k, v] of readKeyed(join(mem, 'memory.stat'))) {
      const field = v1MemoryRenames[k] ?? k;
      if (v1MemoryFields.has(field)) memory[field] = v;
    }
    const entry = (prefix: string) => ({
      usage: readU64(join(mem, `${prefix}.usage_in_bytes`)) ?? '0',
      limit: readU64(join(mem, `${prefix}.limit_in_bytes`)) ?? '0',
      max: readU64(join(mem, `${prefix}.max_usage_in_bytes`)) ?? '0',
      failcnt: readU64(join(mem, `${prefix}.failcnt`)) ?? '0',
    });
    memory.usage = entry('memory');
    memory.swap = entry('memory.memsw');
    memory.kernel = entry('memory.kmem');
    memory.kernel_tcp = entry('memory.kmem.tcp');
    m.memory = memory;
    const oom = readKeyed(join(mem, 'memory.oom_control'));
    m.memory_oom_control = {
      oom_kill_disable: oom.get('oom_kill_disable') ?? '0',
      under_oom: oom.get('under_oom') ?? '0',
      oom_kill: oom.get('oom_kill') ?? '0',
    };
  }

  const blkio = ctrl('blkio');
  if (existsSync(blkio)) m.blkio = v1Blkio(blkio);

  const hugetlb = ctrl('hugetlb');
  if (existsSync(hugetlb)) {
    m.hugetlb = hugePageSizes(hugetlb, /^hugetlb\.([^.]+)\.usage_in_bytes$/).map((size) => ({
      pagesize: size,
      usage: readU64(join(hugetlb, `hugetlb.${size}.usage_in_bytes`)) ?? '0',
      max: readU64(join(hugetlb, `hugetlb.${size}.max_usage_in_bytes`)) ?? '0',
      failcnt: readU64(join(hugetlb, `hugetlb.${size}.failcnt`)) ?? '0',
    }));
  }
  return m;
}

function hugePageSizes(dir: string, pattern: RegExp): string[] {
  try {
    return readdirSync(dir).flatMap((f) => {
      const match = pattern.exec(f);
      return match ? [match[1]] : [];
    });
  } catch {
    return [];
  }
}

const deviceNames = new Map<string, string>();

/** /dev/<name> of a block device number, as containerd reports it ('' when unknown). */
function deviceName(major: string, minor: string): string {
  const key = `${major}:${minor}`;
  let name = deviceNames.get(key);
  if (name === undefined) {
    const devname = /^DEVNAME=(.+)$/m.exec(read(`/sys/dev/block/${key}/uevent`) ?? '');
    name = devname ? `/dev/${devname[1]}` : '';
    deviceNames.set(key, name);
  }
  return name;
}

/** Lines "8:0 Read 4096" (the "Total" line and per-device lines without an op are skipped). */
function blkioEntries(file: string): Array<Record<string, unknown>> | undefined {
  const text = read(file);
  if (text === undefined) return undefined;
  const out: Array<Record<string, unknown>> = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    const dev = /^(\d+):(\d+)$/.exec(f[0] ?? '');
    if (!dev) continue;
    const [op, value] = f.length === 3 ? [f[1], f[2]] : ['', f[1]];
    if (!value || !/^\d+$/.test(value)) continue;
    out.push({ op, device: deviceName(dev[1], dev[2]), major: dev[1], minor: dev[2], value });
  }
  return out;
}

function v1Blkio(dir: string): Record<string, unknown> {
  const names = [
    'io_service_bytes_recursive',
    'io_serviced_recursive',
    'io_queued_recursive',
    'io_service_time_recursive',
    'io_wait_time_recursive',
    'io_merged_recursive',
    'io_time_recursive',
    'sectors_recursive',
  ];
  const stat: Record<string, unknown> = {};
  for (const n of names) stat[n] = blkioEntries(join(dir, `blkio.${n}`)) ?? [];
  // Without the CFQ/BFQ files (the usual case now), the throttle files count all I/O.
  if ((stat.io_service_bytes_recursive as unknown[]).length === 0) {
    stat.io_service_bytes_recursive = blkioEntries(join(dir, 'blkio.throttle.io_service_bytes_recursive')) ?? [];
    stat.io_serviced_recursive = blkioEntries(join(dir, 'blkio.throttle.io_serviced_recursive')) ?? [];
  }
  return stat;
}

// ------------------------------------------------------------------------------- v2

const v2MemoryFields = [
  'anon',
  'file',
  'kernel_stack',
  'slab',
  'sock',
  'shmem',
  'file_mapped',
  'file_dirty',
  'file_writeback',
  'anon_thp',
  'inactive_anon',
  'active_anon',
  'inactive_file',
  'active_file',
  'unevictable',
  'slab_reclaimable',
  'slab_unreclaimable',
  'pgfault',
  'pgmajfault',
  'workingset_refault',
  'workingset_activate',
  'workingset_nodereclaim',
  'pgrefill',
  'pgscan',
  'pgsteal',
  'pgactivate',
  'pgdeactivate',
  'pglazyfree',
  'pglazyfreed',
  'thp_fault_alloc',
  'thp_collapse_alloc',
];

function v2Metrics(dir: string): Record<string, unknown> {
  const m: Record<string, unknown> = {};
  const f = (name: string) => join(dir, name);

  const pidsCurrent = readU64(f('pids.current'));
  if (pidsCurrent !== undefined) {
    const limit = readU64(f('pids.max'));
    m.pids = { current: pidsCurrent, limit: limit === maxU64 ? '0' : (limit ?? '0') };
  }

  const cpu = readKeyed(f('cpu.stat'));
  m.cpu = {
    usage_usec: cpu.get('usage_usec') ?? '0',
    user_usec: cpu.get('user_usec') ?? '0',
    system_usec: cpu.get('system_usec') ?? '0',
    nr_periods: cpu.get('nr_periods') ?? '0',
    nr_throttled: cpu.get('nr_throttled') ?? '0',
    throttled_usec: cpu.get('throttled_usec') ?? '0',
  };

  const usage = readU64(f('memory.current'));
  if (usage !== undefined) {
    const stat = readKeyed(f('memory.stat'));
    const memory: Record<string, unknown> = {};
    for (const k of v2MemoryFields) memory[k] = stat.get(k) ?? '0';
    // Kernels from 5.9 split the refault/activate counters by anon and file.
    for (const k of ['workingset_refault', 'workingset_activate']) {
      if (!stat.has(k) && (stat.has(`${k}_anon`) || stat.has(`${k}_file`))) {
        memory[k] = (BigInt(stat.get(`${k}_anon`) ?? '0') + BigInt(stat.get(`${k}_file`) ?? '0')).toString();
      }
    }
    memory.usage = usage;
    memory.usage_limit = readU64(f('memory.max')) ?? maxU64;
    memory.swap_usage = readU64(f('memory.swap.current')) ?? '0';
    memory.swap_limit = readU64(f('memory.swap.max')) ?? maxU64;
    m.memory = memory;
    const events = readKeyed(f('memory.events'));
    m.memory_events = {
      low: events.get('low') ?? '0',
      high: events.get('high') ?? '0',
      max: events.get('max') ?? '0',
      oom: events.get('oom') ?? '0',
      oom_kill: events.get('oom_kill') ?? '0',
    };
  }

  const io: Array<Record<string, unknown>> = [];
  for (const line of read(f('io.stat'))?.split('\n') ?? []) {
    const [dev, ...kv] = line.trim().split(/\s+/);
    const d = /^(\d+):(\d+)$/.exec(dev ?? '');
    if (!d) continue;
    const e: Record<string, unknown> = { major: d[1], minor: d[2] };
    for (const pair of kv) {
      const [k, v] = pair.split('=');
      if (['rbytes', 'wbytes', 'rios', 'wios'].includes(k) && /^\d+$/.test(v ?? '')) e[k] = v;
    }
    io.push(e);
  }
  m.io = { usage: io };

  m.hugetlb = hugePageSizes(dir, /^hugetlb\.([^.]+)\.current$/).map((size) => ({
    pagesize: size,
    current: readU64(f(`hugetlb.${size}.current`)) ?? '0',
    max: readU64(f(`hugetlb.${size}.max`)) ?? maxU64,
  }));
  return m;
}
