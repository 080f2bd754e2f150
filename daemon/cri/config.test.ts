import { parse } from 'smol-toml';
import { describe, expect, it } from 'vitest';
import { criDefaults, parseCriConfig, runcOptionsOf } from './config.ts';

const settings = (toml: string) => (parse(toml).plugins as Record<string, Record<string, unknown>>)['io.containerd.grpc.v1.cri']!;

describe("the CRI plugin's settings (containerd 1.6 keys)", () => {
  it('defaults to containerd 1.6 values', () => {
    expect(parseCriConfig({})).toEqual({ config: criDefaults, ignored: [], unknown: [] });
    expect(criDefaults).toMatchObject({
      sandboxImage: 'registry.k8s.io/pause:3.6',
      streamServerAddress: '127.0.0.1',
      streamServerPort: 0,
      cni: { binDir: '/opt/cni/bin', confDir: '/etc/cni/net.d', maxConfNum: 1 },
      containerd: { snapshotter: 'overlayfs', defaultRuntimeName: 'runc', runtimes: { runc: { runtimeType: 'io.containerd.runc.v2' } } },
    });
  });

  it("reads a node's containerd config: every key berth uses, the others reported", () => {
    const parsed = parseCriConfig(
      settings(`
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.example.com/pause:3.9"
  stream_server_address = "0.0.0.0"
  stream_server_port = "10010"
  stream_idle_timeout = "30m"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  max_container_log_line_size = -1
  max_concurrent_downloads = 5
  enable_selinux = false
  frobnicate = 1
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "/etc/cni/conf"
    max_conf_num = 0
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
    default_runtime_name = "crun"
    discard_unpacked_layers = true
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.crun]
      runtime_type = "io.containerd.runc.v2"
      pod_annotations = ["io.example/*"]
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.crun.options]
        BinaryName = "/usr/bin/crun"
        SystemdCgroup = true
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "/etc/containerd/certs.d"
`),
    );
    expect(parsed.config).toMatchObject({
      sandboxImage: 'registry.example.com/pause:3.9',
      streamServerAddress: '0.0.0.0',
      streamServerPort: 10010,
      streamIdleTimeoutMs: 30 * 60_000,
      restrictOomScoreAdj: true,
      netnsMountsUnderStateDir: true,
      maxContainerLogLineSize: -1,
      maxConcurrentDownloads: 5,
      cni: { binDir: '/usr/lib/cni', confDir: '/etc/cni/conf', maxConfNum: 0 },
      containerd: { snapshotter: 'native', defaultRuntimeName: 'crun' },
      registryConfigPath: '/etc/containerd/certs.d',
    });
    expect(parsed.config.containerd.runtimes.crun).toEqual({
      runtimeType: 'io.containerd.runc.v2',
      podAnnotations: ['io.example/*'],
      containerAnnotations: [],
      privilegedWithoutHostDevices: false,
      options: { BinaryName: '/usr/bin/crun', SystemdCgroup: true },
    });
    // the default runc entry stays beside the configured ones
    expect(Object.keys(parsed.config.containerd.runtimes).sort()).toEqual(['crun', 'runc']);
    expect(parsed.ignored).toEqual(['enable_selinux', 'containerd.discard_unpacked_layers']);
    expect(parsed.unknown).toEqual(['frobnicate']);
  });

  it.each([
    ['sandbox_image = "Not/A:Ref:"', /sandbox_image must be an image reference/],
    ['stream_server_port = "http"', /stream_server_port must be a whole number from 0 to 65535/],
    ['stream_server_port = 70000', /stream_server_port must be a whole number from 0 to 65535/],
    ['stream_idle_timeout = "4 hours"', /stream_idle_timeout must be a duration/],
    ['enable_tls_streaming = true', /enable_tls_streaming must be false/],
    ['restrict_oom_score_adj = "yes"', /restrict_oom_score_adj must be true or false/],
    ['max_container_log_line_size = -2', /max_container_log_line_size must be a whole number from -1/],
    ['cni = "x"', /cni must be a table/],
    ['[plugins."io.containerd.grpc.v1.cri".cni]\nmax_conf_num = -1', /cni.max_conf_num must be a whole number from 0/],
    [
      '[plugins."io.containerd.grpc.v1.cri".containerd]\ndefault_runtime_name = "kata"',
      /default_runtime_name must be one of containerd.runtimes \(runc\), not "kata"/,
    ],
    ['[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.x]\npod_annotations = []', /containerd.runtimes.x.runtime_type must be set/],
    ['[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]\nSystemdCgroup = "true"', /options.SystemdCgroup must be true or false/],
  ])('refuses %j', (toml, message) => {
    expect(() => parseCriConfig(settings(`[plugins."io.containerd.grpc.v1.cri"]\n${toml}\n`))).toThrow(message);
  });

  it("a runtime's options table as runc's shim options: BinaryName, Root, SystemdCgroup", () => {
    const runtime = (options: Record<string, unknown>) => ({
      runtimeType: 'io.containerd.runc.v2',
      podAnnotations: [],
      containerAnnotations: [],
      privilegedWithoutHostDevices: false,
      options,
    });
    expect(runcOptionsOf(runtime({}))).toEqual({});
    expect(runcOptionsOf(runtime({ BinaryName: '/usr/bin/crun', Root: '/run/crun', SystemdCgroup: true }))).toEqual({
      binary_name: '/usr/bin/crun',
      root: '/run/crun',
      systemd_cgroup: true,
    });
    expect(runcOptionsOf(runtime({ SystemdCgroup: false, BinaryName: '' }))).toEqual({});
  });
});
