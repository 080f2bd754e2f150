// A berthd with its CRI set up for a test: a CNI conflist of the test's own (a bridge and subnet
// no other test uses) in a temporary cni.conf_dir, the CRI settings, images loaded into k8s.io,
// and a grpc-js client on the CRI protos; cleanup leaves no pod, netns, mount, bridge or file.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { removeNamespace } from '../../native/namespaces.ts';
import { channelOptions, loadProtoDir, lookup } from './grpc-js.ts';
import { type Berthd, startBerthd } from './harness.ts';
import { removeTestBridges, type TestNetwork, uniqueTestNetwork } from './network.ts';
import { loadRunImage, type RunImage } from './run-image.ts';

export const cniBinDir = '/usr/lib/cni';

type Callback = (err: grpc.ServiceError | null, res: unknown) => void;
export type CriClient = grpc.Client & Record<string, (req: unknown, cb: Callback) => unknown>;

export interface CriBerthd {
  daemon: Berthd;
  /** the test's temporary dir: net.d, ipam, logs, berthd.toml */
  dir: string;
  net: TestNetwork;
  /** the conflist's network name */
  netName: string;
  runtime: CriClient;
  /** a unary RuntimeService call */
  call<T>(method: string, req: unknown): Promise<T>;
  /** RemovePodSandbox of each pod given, then everything else goes */
  cleanup(pods: readonly string[]): Promise<void>;
}

export interface CriBerthdOptions {
  /** the temporary dir's name prefix */
  prefix: string;
  /** the sandbox image (sandbox_image); loaded with the others */
  pauseImage: string;
  images: RunImage[];
  /** lines added under [plugins."io.containerd.grpc.v1.cri"] */
  settings?: string[];
  /** portmap after the bridge, and hairpin mode on it (hostPorts reached from the pod itself) */
  portmap?: boolean;
}

/** The mount points under path, from /proc/self/mountinfo. */
export function mountsUnder(path: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => p?.startsWith(path) === true);
}

export async function startCriBerthd(o: CriBerthdOptions): Promise<CriBerthd> {
  const dir = mkdtempSync(join(tmpdir(), o.prefix));
  const net = uniqueTestNetwork();
  const netName = `cri-${net.bridge}`;
  mkdirSync(join(dir, 'net.d'));
  const bridge = {
    type: 'bridge',
    bridge: net.bridge,
    isGateway: true,
    ipMasq: false,
    ...(o.portmap ? { hairpinMode: true } : {}),
    ipam: { type: 'host-local', ranges: [[{ subnet: net.subnet }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: join(dir, 'ipam') },
  };
  const plugins = o.portmap ? [bridge, { type: 'portmap', capabilities: { portMappings: true } }] : [bridge];
  writeFileSync(join(dir, 'net.d', '10-pods.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: netName, plugins }));
  const config = join(dir, 'berthd.toml');
  writeFileSync(
    config,
    [
      'version = 2',
      '[plugins."io.containerd.grpc.v1.cri"]',
      `  sandbox_image = "${o.pauseImage}"`,
      '  restrict_oom_score_adj = true',
      '  netns_mounts_under_state_dir = true',
      ...(o.settings ?? []),
      '  [plugins."io.containerd.grpc.v1.cri".cni]',
      `    bin_dir = "${cniBinDir}"`,
      `    conf_dir = "${join(dir, 'net.d')}"`,
      '',
    ].join('\n'),
  );
  let daemon: Berthd | undefined;
  let runtime: CriClient | undefined;
  const call = <T>(method: string, req: unknown): Promise<T> =>
    new Promise((resolve, reject) => runtime![method]!(req, (err, res) => (err ? reject(err) : resolve(res as T))));
  const cleanup = async (pods: readonly string[]) => {
    for (const id of pods) await call('RemovePodSandbox', { pod_sandbox_id: id }).catch(() => undefined);
    runtime?.close();
    if (daemon) {
      // what a failed test left: the pods' network namespaces and mounts, before berthd goes
      const netns = join(daemon.state, 'netns');
      for (const f of existsSync(netns) ? readdirSync(netns) : []) removeNamespace(join(netns, f));
      for (const point of mountsUnder(daemon.state).reverse()) spawnSync('umount', ['-l', point]);
    }
    await daemon?.cleanup();
    await removeTestBridges([net.bridge]);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    daemon = await startBerthd(['--config', config]);
    for (const image of o.images) await loadRunImage(daemon, { ns: 'k8s.io', image });
    const tree = loadProtoDir('k8s.io/cri-api/runtime/v1');
    const Runtime = lookup<grpc.ServiceClientConstructor>(tree, 'runtime.v1.RuntimeService');
    runtime = new Runtime(`unix://${daemon.address}`, grpc.credentials.createInsecure(), channelOptions) as unknown as CriClient;
  } catch (err) {
    await cleanup([]);
    throw err;
  }
  return { daemon, dir, net, netName, runtime, call, cleanup };
}
