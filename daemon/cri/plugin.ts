import { join } from 'node:path';
import { createNetns, removeNamespace } from '../../native/namespaces.ts';
import type { ContainerStore } from '../containers/store.ts';
import type { ContentStore } from '../content/store.ts';
import { differType } from '../diff/plugin.ts';
import type { Exchange } from '../events/exchange.ts';
import type { ImageStore } from '../images/store.ts';
import type { LeaseStore } from '../leases/store.ts';
import { CniRunner } from '../network/cni/runner.ts';
import { type GrpcService, type Plugin, PluginType } from '../plugin.ts';
import type { PullServicePlugin } from '../pull/plugin.ts';
import type { TaskManager } from '../runtime/manager.ts';
import type { SnapshotStore } from '../snapshots/store.ts';
import { parseCriConfig } from './config.ts';
import { containerStatusOf } from './container-service.ts';
import { CriContainers } from './containers.ts';
import { CriEvents, eventsHandlers } from './events.ts';
import { CriExec } from './exec.ts';
import { CriImages } from './images.ts';
import { PodNetworking } from './pod-network.ts';
import { runtimeConfigHandlers } from './runtime-config.ts';
import { type CriBase, PodSandboxes } from './sandboxes.ts';
import { cniConfigFiles, criService, sandboxStatus } from './service.ts';
import { CriStats, statsHandlers } from './stats.ts';
import { CriStreaming } from './streaming/rpcs.ts';

/** The containerd namespace the CRI's images, pods and containers live in, as containerd's. */
export const criNamespace = 'k8s.io';

/**
 * The CRI (io.containerd.grpc.v1.cri): runtime.v1.RuntimeService and ImageService on berthd's
 * socket, configured by containerd 1.6's keys under [plugins."io.containerd.grpc.v1.cri"]
 * (config.ts, docs/cri.md).
 */
export const criPlugin: Plugin<GrpcService> = {
  type: PluginType.grpc,
  id: 'cri',
  // the pull service is a grpc plugin registered before this one (daemon/plugins.ts); requiring
  // the grpc type would make a cycle with plugins that require every grpc plugin (run)
  requires: [PluginType.content, PluginType.service, PluginType.lease, PluginType.snapshotter, differType, PluginType.runtime, PluginType.event],
  async init(ctx) {
    const { config, ignored, unknown } = parseCriConfig(ctx.settings);
    if (ignored.length > 0) ctx.log.info('CRI settings berth does not use (yet)', { keys: ignored.join(', ') });
    if (unknown.length > 0) ctx.log.warn('unknown CRI settings', { keys: unknown.join(', ') });
    const snapshotter = ctx.getAll<SnapshotStore>(PluginType.snapshotter).get(config.containerd.snapshotter);
    if (!snapshotter) throw new Error(`containerd.snapshotter: no snapshotter "${config.containerd.snapshotter}"`);
    const images = new CriImages({
      ns: criNamespace,
      images: ctx.get<ImageStore>(PluginType.service, 'images-service'),
      content: ctx.get<ContentStore>(PluginType.content),
      puller: ctx.get<PullServicePlugin>(PluginType.grpc, 'pull').puller,
      snapshotter,
      maxConcurrentDownloads: config.maxConcurrentDownloads,
      hostsDir: config.registryConfigPath,
    });
    const network = new PodNetworking({
      cni: new CniRunner({ binDirs: [config.cni.binDir], log: ctx.log }),
      netns: { create: createNetns, remove: removeNamespace },
      confDir: config.cni.confDir,
      maxConfNum: config.cni.maxConfNum,
      loopbackPlugin: !config.cni.useInternalLoopback,
      log: ctx.log,
    });
    const tasks = ctx.get<TaskManager>(PluginType.runtime, 'task');
    const base: CriBase = {
      ns: criNamespace,
      config,
      containers: ctx.get<ContainerStore>(PluginType.service, 'containers-service'),
      snapshotter,
      leases: ctx.get<LeaseStore>(PluginType.lease),
      tasks,
      images,
      log: ctx.log,
    };
    const sandboxes = new PodSandboxes({
      ...base,
      network,
      dir: join(ctx.config.root, 'io.containerd.grpc.v1.cri', 'sandboxes'),
      stateDir: join(ctx.config.state, 'io.containerd.grpc.v1.cri', 'sandboxes'),
      netnsDir: config.netnsMountsUnderStateDir ? join(ctx.config.state, 'netns') : '/var/run/netns',
    });
    const containers = new CriContainers({
      ...base,
      sandboxes,
      exchange: ctx.get<Exchange>(PluginType.event),
      dir: join(ctx.config.root, 'io.containerd.grpc.v1.cri', 'containers'),
      stateDir: join(ctx.config.state, 'io.containerd.grpc.v1.cri', 'containers'),
    });
    sandboxes.members = containers;
    await containers.load();
    const exec = new CriExec({
      ns: criNamespace,
      tasks,
      containers: ctx.get<ContainerStore>(PluginType.service, 'containers-service'),
      fifoDir: join(ctx.config.state, 'io.containerd.grpc.v1.cri', 'exec'),
      log: ctx.log,
    });
    const streaming = new CriStreaming({
      ns: criNamespace,
      exec,
      tasks,
      sandboxes,
      attachTargets: containers,
      address: config.streamServerAddress,
      port: config.streamServerPort,
      idleTimeoutMs: config.streamIdleTimeoutMs,
      log: ctx.log,
    });
    await streaming.listen();
    ctx.log.info('CRI streaming server listening', { url: streaming.server.baseUrl });
    const stats = new CriStats({ ns: criNamespace, sandboxes, containers, snapshotter });
    const events = new CriEvents({
      ns: criNamespace,
      exchange: ctx.get<Exchange>(PluginType.event),
      containers: ctx.get<ContainerStore>(PluginType.service, 'containers-service'),
      podStatus: async (id) => sandboxStatus(await sandboxes.status(id)),
      containerStatuses: async (id) => containers.list({ id: '', state: null, pod_sandbox_id: id, label_selector: {} }).map(containerStatusOf),
      log: ctx.log,
    });
    sandboxes.events = events;
    const runtimeConfig = { template: config.cni.confTemplate, confDir: config.cni.confDir, confFiles: () => cniConfigFiles(config.cni.confDir), log: ctx.log };
    const service = criService(config, images, sandboxes, containers, streaming.handlers(), {
      ...statsHandlers(stats),
      ...eventsHandlers(events),
      ...runtimeConfigHandlers(runtimeConfig),
    });
    return {
      ...service,
      drain: () => {
        service.drain?.();
        void streaming.close();
      },
    };
  },
};
