import { readdir } from 'node:fs/promises';
import type { Image } from '../../api/gen/runtime/v1/Image.ts';
import type { ImageServiceHandlers } from '../../api/gen/runtime/v1/ImageService.ts';
import type { RuntimeServiceHandlers } from '../../api/gen/runtime/v1/RuntimeService.ts';
import { ImageService, RuntimeService } from '../../api/services.ts';
import { invalidArgument } from '../../core/errors.ts';
import { version } from '../../core/version.ts';
import { unary } from '../grpc.ts';
import type { GrpcService } from '../plugin.ts';
import type { CriConfig } from './config.ts';
import { containerRpcs } from './container-service.ts';
import type { CriContainers } from './containers.ts';
import type { CriImage, CriImages } from './images.ts';
import type { PodSandboxes, Sandbox } from './sandboxes.ts';
import type { StatsRpc } from './stats.ts';

/** What a CNI config directory holds that libcni would load: .conf, .conflist and .json files. */
export async function cniConfigFiles(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true }))
      .filter((e) => !e.isDirectory() && /\.(conf|conflist|json)$/.test(e.name))
      .map((e) => e.name)
      .sort();
  } catch {
    return [];
  }
}

const nowNs = () => BigInt(Date.now()) * 1_000_000n;

const toMessage = (i: CriImage): Image => ({
  id: i.id,
  repo_tags: i.repoTags,
  repo_digests: i.repoDigests,
  size: i.size,
  uid: i.uid === undefined ? null : { value: i.uid },
  username: i.username,
  spec: { image: i.id, annotations: {} },
  pinned: i.pinned,
});

const nsOf = (ms: number) => (BigInt(ms) * 1_000_000n).toString();

const toPodSandbox = (s: Sandbox) => ({
  id: s.meta.ID,
  metadata: s.meta.Config.metadata,
  state: s.state,
  created_at: nsOf(s.createdAt),
  labels: s.meta.Config.labels,
  annotations: s.meta.Config.annotations,
  runtime_handler: s.meta.RuntimeHandler,
});

export const sandboxStatus = (s: Sandbox) => ({
  ...toPodSandbox(s),
  network: { ip: s.meta.IP, additional_ips: s.meta.AdditionalIPs.map((ip) => ({ ip })) },
  linux: { namespaces: { options: s.meta.Config.linux?.security_context?.namespace_options ?? null } },
});

/** PodSandboxStatus's `info` with verbose, in the keys containerd 1.6 uses (crictl inspectp shows it). */
function verboseInfo(s: Sandbox) {
  const spec = s.record.spec ? (JSON.parse(s.record.spec.value.toString('utf8')) as unknown) : null;
  return {
    pid: s.pid,
    processStatus: s.state === 'SANDBOX_READY' ? 'running' : 'stopped',
    netNamespaceClosed: !s.meta.Network,
    image: s.record.image,
    snapshotKey: s.record.snapshotKey,
    snapshotter: s.record.snapshotter,
    runtimeHandler: s.meta.RuntimeHandler,
    runtimeType: s.record.runtime.name,
    config: s.meta.Config,
    runtimeSpec: spec,
    cniResult: s.meta.Network?.result ?? null,
  };
}

/**
 * runtime.v1.RuntimeService and runtime.v1.ImageService (docs/cri.md): every RPC, each answered by
 * the module that owns it; the few berth does not do answer UNIMPLEMENTED with the reason.
 */
export function criService(
  config: CriConfig,
  images: CriImages,
  sandboxes: PodSandboxes,
  containers: CriContainers,
  /** exec and the streaming server's RPCs (streaming/rpcs.ts) */
  streaming: Pick<RuntimeServiceHandlers, 'ExecSync' | 'Exec' | 'Attach' | 'PortForward'>,
  /** stats, events, runtime config and the RPCs answered UNIMPLEMENTED on purpose (stats.ts, events.ts, runtime-config.ts) */
  rest: Pick<
    RuntimeServiceHandlers,
    StatsRpc | 'GetContainerEvents' | 'UpdateRuntimeConfig' | 'CheckpointContainer' | 'ListMetricDescriptors' | 'ListPodSandboxMetrics'
  >,
): GrpcService {
  const runtime: RuntimeServiceHandlers = {
    ...containerRpcs(containers, images),
    ...streaming,
    ...rest,
    RunPodSandbox: unary(async (req) => ({ pod_sandbox_id: await sandboxes.run(req.config, req.runtime_handler) })),
    StopPodSandbox: unary(async (req) => {
      await sandboxes.stop(req.pod_sandbox_id);
      return {};
    }),
    RemovePodSandbox: unary(async (req) => {
      await sandboxes.remove(req.pod_sandbox_id);
      return {};
    }),
    PodSandboxStatus: unary(async (req) => {
      const s = await sandboxes.status(req.pod_sandbox_id);
      const info: Record<string, string> = req.verbose ? { info: JSON.stringify(verboseInfo(s)) } : {};
      return { status: sandboxStatus(s), info, containers_statuses: [], timestamp: nowNs().toString() };
    }),
    ListPodSandbox: unary(async (req) => ({ items: (await sandboxes.list(req.filter)).map(toPodSandbox) })),
    Version: unary(async () => ({ version: '0.1.0', runtime_name: 'berth', runtime_version: version, runtime_api_version: 'v1' })),
    Status: unary(async (req) => {
      const confs = await cniConfigFiles(config.cni.confDir);
      const network =
        confs.length > 0
          ? { type: 'NetworkReady', status: true, reason: '', message: '' }
          : { type: 'NetworkReady', status: false, reason: 'NetworkPluginNotReady', message: `no network config found in ${config.cni.confDir}` };
      const info: Record<string, string> = req.verbose ? { config: JSON.stringify(config), cniConfigFiles: JSON.stringify(confs) } : {};
      return { status: { conditions: [{ type: 'RuntimeReady', status: true, reason: '', message: '' }, network] }, info };
    }),
  };

  const spec = (s: { image: string } | null, what: string) => {
    if (!s || s.image === '') throw invalidArgument(`${what}: an image is required`);
    return s.image;
  };

  const image: ImageServiceHandlers = {
    ListImages: unary(async (req) => ({ images: (await images.filter(req.filter?.image?.image ?? '')).map(toMessage) })),
    ImageStatus: unary(async (req) => {
      const found = await images.find(spec(req.image, 'ImageStatus'));
      if (!found) return { image: null, info: {} };
      const info: Record<string, string> = req.verbose ? { info: JSON.stringify({ chainID: found.chainId, imageSpec: found.config }) } : {};
      return { image: toMessage(found), info };
    }),
    PullImage: unary(async (req) => ({ image_ref: await images.pull(spec(req.image, 'PullImage'), req.auth) })),
    RemoveImage: unary(async (req) => {
      await images.remove(spec(req.image, 'RemoveImage'));
      return {};
    }),
    ImageFsInfo: unary(async () => {
      const timestamp = nowNs();
      const u = await images.fsUsage();
      return {
        image_filesystems: [
          { timestamp: timestamp.toString(), fs_id: { mountpoint: u.mountpoint }, used_bytes: { value: u.usedBytes }, inodes_used: { value: u.inodesUsed } },
        ],
      };
    }),
  };

  return {
    register(server) {
      server.addService(RuntimeService, runtime);
      server.addService(ImageService, image);
    },
  };
}
