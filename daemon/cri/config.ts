import { parseGoDuration } from '../../core/duration.ts';
import { invalidArgument } from '../../core/errors.ts';
import { parseReference } from '../../core/registry/reference.ts';

/**
 * The CRI plugin's settings, read from `[plugins."io.containerd.grpc.v1.cri"]` in containerd
 * 1.6's keys and layout, so that a node's containerd config carries over (docs/cri.md lists them).
 * Keys containerd 1.6 has that berth does not use are accepted and reported (ignored); keys
 * neither knows are reported as unknown. Both are logged, neither stops the plugin.
 */
export interface CriConfig {
  sandboxImage: string;
  streamServerAddress: string;
  streamServerPort: number;
  streamIdleTimeoutMs: number;
  restrictOomScoreAdj: boolean;
  netnsMountsUnderStateDir: boolean;
  /** longer lines are split into partial ones; -1: no limit */
  maxContainerLogLineSize: number;
  maxConcurrentDownloads: number;
  cni: {
    binDir: string;
    confDir: string;
    /** conf files loaded from confDir, in name order; 0: all */
    maxConfNum: number;
    confTemplate: string;
    /** lo brought up by berthd instead of CNI's loopback plugin (containerd 2's key; its default there is false) */
    useInternalLoopback: boolean;
  };
  containerd: {
    snapshotter: string;
    defaultRuntimeName: string;
    runtimes: Record<string, CriRuntime>;
  };
  /** the hosts.toml directory for pulls; undefined: the pull plugin's config_path */
  registryConfigPath?: string;
}

export interface CriRuntime {
  runtimeType: string;
  podAnnotations: string[];
  containerAnnotations: string[];
  privilegedWithoutHostDevices: boolean;
  /** the runtime_type's options table as written (runc's: BinaryName, SystemdCgroup, Root, ...) */
  options: Record<string, unknown>;
}

/**
 * The runc shim options (containerd.runc.v1.Options) a runtime's options table stands for:
 * BinaryName, Root and SystemdCgroup (runc then runs with --systemd-cgroup, and pods under a
 * `.slice` cgroup parent get systemd's `slice:prefix:name` cgroups paths).
 */
export function runcOptionsOf(r: CriRuntime): { binary_name?: string; root?: string; systemd_cgroup?: boolean } {
  const o = r.options;
  return {
    ...(typeof o.BinaryName === 'string' && o.BinaryName ? { binary_name: o.BinaryName } : {}),
    ...(typeof o.Root === 'string' && o.Root ? { root: o.Root } : {}),
    ...(o.SystemdCgroup === true ? { systemd_cgroup: true } : {}),
  };
}

export interface ParsedCriConfig {
  config: CriConfig;
  /** containerd 1.6 keys berth reads but does not act on */
  ignored: string[];
  /** keys containerd 1.6 does not have either (misspelt?) */
  unknown: string[];
}

export const criDefaults: CriConfig = {
  sandboxImage: 'registry.k8s.io/pause:3.6',
  streamServerAddress: '127.0.0.1',
  streamServerPort: 0,
  streamIdleTimeoutMs: 4 * 3600 * 1000,
  restrictOomScoreAdj: false,
  netnsMountsUnderStateDir: false,
  maxContainerLogLineSize: 16 * 1024,
  maxConcurrentDownloads: 3,
  cni: { binDir: '/opt/cni/bin', confDir: '/etc/cni/net.d', maxConfNum: 1, confTemplate: '', useInternalLoopback: true },
  containerd: {
    snapshotter: 'overlayfs',
    defaultRuntimeName: 'runc',
    runtimes: {
      runc: { runtimeType: 'io.containerd.runc.v2', podAnnotations: [], containerAnnotations: [], privilegedWithoutHostDevices: false, options: {} },
    },
  },
};

// containerd 1.6 keys that change nothing in berth (yet): accepted so that a node's config loads.
const ignoredTop = new Set([
  'disable_tcp_service',
  'x509_key_pair_streaming',
  'enable_selinux',
  'selinux_category_range',
  'stats_collect_period',
  'systemd_cgroup',
  'disable_cgroup',
  'disable_apparmor',
  'disable_proc_mount',
  'unset_seccomp_profile',
  'tolerate_missing_hugetlb_controller',
  'disable_hugetlb_controller',
  'device_ownership_from_security_context',
  'ignore_image_defined_volumes',
  'enable_unprivileged_ports',
  'enable_unprivileged_icmp',
  'enable_cdi',
  'cdi_spec_dirs',
  'image_pull_progress_timeout',
  'drain_exec_sync_io_timeout',
  'image_decryption',
]);
const ignoredCni = new Set(['ip_pref']);
const ignoredContainerd = new Set([
  'no_pivot',
  'disable_snapshot_annotations',
  'discard_unpacked_layers',
  'default_runtime',
  'untrusted_workload_runtime',
  'ignore_rdt_not_enabled_errors',
  'ignore_blockio_not_enabled_errors',
]);
const ignoredRuntime = new Set([
  'runtime_engine',
  'runtime_root',
  'runtime_path',
  'base_runtime_spec',
  'cni_conf_dir',
  'cni_max_conf_num',
  'snapshotter',
  'sandbox_mode',
]);
const ignoredRegistry = new Set(['mirrors', 'configs', 'auths', 'headers']);

type Table = Record<string, unknown>;

const isTable = (v: unknown): v is Table => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);

/** Reads the settings table (as the config file's TOML gives it) over the defaults; throws InvalidArgument for a wrong value. */
export function parseCriConfig(settings: Table): ParsedCriConfig {
  const config = structuredClone(criDefaults);
  const ignored: string[] = [];
  const unknown: string[] = [];
  const bad = (key: string, what: string) => invalidArgument(`[plugins."io.containerd.grpc.v1.cri"] ${key} must be ${what}`);
  const str = (v: unknown, key: string) => {
    if (typeof v !== 'string') throw bad(key, 'a string');
    return v;
  };
  const bool = (v: unknown, key: string) => {
    if (typeof v !== 'boolean') throw bad(key, 'true or false');
    return v;
  };
  const int = (v: unknown, key: string, min: number, max = Number.MAX_SAFE_INTEGER) => {
    if (!Number.isInteger(v) || (v as number) < min || (v as number) > max) throw bad(key, `a whole number from ${min} to ${max}`);
    return v as number;
  };
  const strings = (v: unknown, key: string) => {
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw bad(key, 'a list of strings');
    return v as string[];
  };
  const table = (v: unknown, key: string) => {
    if (!isTable(v)) throw bad(key, 'a table');
    return v;
  };
  /** Reads each key of t with its reader; the rest are ignored (known) or unknown. */
  const read = (t: Table, prefix: string, readers: Record<string, (v: unknown, key: string) => void>, known: Set<string>) => {
    for (const [k, v] of Object.entries(t)) {
      const key = `${prefix}${k}`;
      if (readers[k]) readers[k](v, key);
      else (known.has(k) ? ignored : unknown).push(key);
    }
  };

  read(
    settings,
    '',
    {
      sandbox_image(v, key) {
        config.sandboxImage = str(v, key);
        try {
          parseReference(config.sandboxImage);
        } catch (err) {
          throw bad(key, `an image reference (${(err as Error).message})`);
        }
      },
      stream_server_address(v, key) {
        config.streamServerAddress = str(v, key);
      },
      stream_server_port(v, key) {
        // containerd's is a string ("0"); a number is taken too
        const port = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
        config.streamServerPort = int(port, key, 0, 65535);
      },
      stream_idle_timeout(v, key) {
        const ms = parseGoDuration(str(v, key));
        if (ms === undefined) throw bad(key, 'a duration such as "4h0m0s"');
        config.streamIdleTimeoutMs = ms;
      },
      enable_tls_streaming(v, key) {
        if (bool(v, key)) throw bad(key, 'false: berth serves streams without TLS, on the address given');
      },
      restrict_oom_score_adj(v, key) {
        config.restrictOomScoreAdj = bool(v, key);
      },
      netns_mounts_under_state_dir(v, key) {
        config.netnsMountsUnderStateDir = bool(v, key);
      },
      max_container_log_line_size(v, key) {
        config.maxContainerLogLineSize = int(v, key, -1);
      },
      max_concurrent_downloads(v, key) {
        config.maxConcurrentDownloads = int(v, key, 1, 64);
      },
      cni(v, key) {
        read(
          table(v, key),
          `${key}.`,
          {
            bin_dir: (w, k) => (config.cni.binDir = str(w, k)),
            conf_dir: (w, k) => (config.cni.confDir = str(w, k)),
            max_conf_num: (w, k) => (config.cni.maxConfNum = int(w, k, 0)),
            conf_template: (w, k) => (config.cni.confTemplate = str(w, k)),
            use_internal_loopback: (w, k) => (config.cni.useInternalLoopback = bool(w, k)),
          },
          ignoredCni,
        );
      },
      containerd(v, key) {
        read(
          table(v, key),
          `${key}.`,
          {
            snapshotter: (w, k) => (config.containerd.snapshotter = str(w, k)),
            default_runtime_name: (w, k) => (config.containerd.defaultRuntimeName = str(w, k)),
            runtimes(w, k) {
              for (const [name, r] of Object.entries(table(w, k))) config.containerd.runtimes[name] = runtime(table(r, `${k}.${name}`), `${k}.${name}`);
            },
          },
          ignoredContainerd,
        );
      },
      registry(v, key) {
        read(table(v, key), `${key}.`, { config_path: (w, k) => (config.registryConfigPath = str(w, k)) }, ignoredRegistry);
      },
    },
    ignoredTop,
  );

  function runtime(t: Table, prefix: string): CriRuntime {
    const r: CriRuntime = { runtimeType: '', podAnnotations: [], containerAnnotations: [], privilegedWithoutHostDevices: false, options: {} };
    read(
      t,
      `${prefix}.`,
      {
        runtime_type: (v, k) => (r.runtimeType = str(v, k)),
        pod_annotations: (v, k) => (r.podAnnotations = strings(v, k)),
        container_annotations: (v, k) => (r.containerAnnotations = strings(v, k)),
        privileged_without_host_devices: (v, k) => (r.privilegedWithoutHostDevices = bool(v, k)),
        options(v, k) {
          r.options = table(v, k);
          if (r.options.BinaryName !== undefined) str(r.options.BinaryName, `${k}.BinaryName`);
          if (r.options.SystemdCgroup !== undefined) bool(r.options.SystemdCgroup, `${k}.SystemdCgroup`);
          if (r.options.Root !== undefined) str(r.options.Root, `${k}.Root`);
        },
      },
      ignoredRuntime,
    );
    if (r.runtimeType === '') throw bad(`${prefix}.runtime_type`, 'set (e.g. "io.containerd.runc.v2")');
    return r;
  }

  const { defaultRuntimeName, runtimes } = config.containerd;
  if (!runtimes[defaultRuntimeName]) {
    throw bad('containerd.default_runtime_name', `one of containerd.runtimes (${Object.keys(runtimes).join(', ')}), not "${defaultRuntimeName}"`);
  }
  return { config, ignored, unknown };
}
