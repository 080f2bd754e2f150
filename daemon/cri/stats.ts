// The CRI's stats (docs/cri.md): PodSandboxStats, ListPodSandboxStats, ContainerStats and
// ListContainerStats, from the cgroups of pods and containers, the pod's network namespace
// and the containers' snapshots, in the fields containerd's CRI reports.
import type { ContainerStats } from '../../api/gen/runtime/v1/ContainerStats.ts';
import type { ContainerStatsFilter__Output } from '../../api/gen/runtime/v1/ContainerStatsFilter.ts';
import type { PodSandboxStats } from '../../api/gen/runtime/v1/PodSandboxStats.ts';
import type { PodSandboxStatsFilter__Output } from '../../api/gen/runtime/v1/PodSandboxStatsFilter.ts';
import type { RuntimeServiceHandlers } from '../../api/gen/runtime/v1/RuntimeService.ts';
import { failedPrecondition, isCode, unavailable } from '../../core/errors.ts';
import type { Container } from '../containers/store.ts';
import { unary } from '../grpc.ts';
import type { SnapshotStore } from '../snapshots/store.ts';
import { type CgroupSample, type InterfaceCounters, readCgroup, readNetDev, sumSamples } from './cgroup-stats.ts';
import type { CriContainer, CriContainers } from './containers.ts';
import type { PodSandboxes, Sandbox } from './sandboxes.ts';

export interface StatsDeps {
  ns: string;
  sandboxes: PodSandboxes;
  containers: Pick<CriContainers, 'list' | 'status'>;
  snapshotter: SnapshotStore;
}

/** A container with a task (its cgroup is there): CRI containers have one from Start to their exit. */
const running = (c: CriContainer) => c.state === 'CONTAINER_RUNNING';

/** The spec's linux.cgroupsPath of a record, '' when it has none. */
function cgroupsPathOf(c: Container): string {
  if (!c.spec) return '';
  try {
    const spec = JSON.parse(Buffer.from(c.spec.value).toString('utf8')) as { linux?: { cgroupsPath?: string } };
    return spec.linux?.cgroupsPath ?? '';
  } catch {
    return '';
  }
}

/** the pod's default interface, as containerd names it */
const defaultInterface = 'eth0';
/** a writable layer's usage is measured again once older than this (containerd's stats_collect_period) */
const layerUsageTtlMs = 10_000;
/** a CPU reading unused this long is forgotten (its pod or container is likely gone) */
const readingTtlMs = 10 * 60_000;

/** now, in ns since the epoch, finer than a millisecond */
const nowNs = () => BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n;
const u64 = (v: bigint) => ({ value: v.toString() });

export class CriStats {
  /** the last CPU reading of each pod and container, for usage_nano_cores */
  private readonly lastCpu = new Map<string, { cpuNs: bigint; at: bigint; seenMs: number }>();
  /** the writable layers measured lately */
  private readonly layers = new Map<string, { at: bigint; size: number; inodes: number; measuredMs: number }>();

  constructor(private readonly d: StatsDeps) {}

  async podStats(id: string): Promise<PodSandboxStats> {
    const s = await this.d.sandboxes.status(id);
    if (s.state !== 'SANDBOX_READY') throw unavailable(`sandbox ${s.meta.ID} is not ready: no stats`);
    return this.ofPod(s, this.d.containers.list(null));
  }

  /** Every ready pod the filter picks (id: a prefix; label_selector: pairs of the pod's labels). */
  async listPodStats(filter: PodSandboxStatsFilter__Output | null): Promise<PodSandboxStats[]> {
    const pods = await this.d.sandboxes.list({ id: filter?.id ?? '', state: { state: 'SANDBOX_READY' }, label_selector: filter?.label_selector ?? {} });
    const containers = this.d.containers.list(null);
    this.forgetOld();
    return Promise.all(pods.map((s) => this.ofPod(s, containers)));
  }

  async containerStats(id: string): Promise<ContainerStats> {
    const c = this.d.containers.status(id);
    if (!running(c)) throw failedPrecondition(`container ${c.record.id} is not running: no stats`);
    return this.ofContainer(c);
  }

  /** Every container the filter picks, running or not; those without a task have no cpu or memory. */
  async listContainerStats(filter: ContainerStatsFilter__Output | null): Promise<ContainerStats[]> {
    const containers = this.d.containers.list({
      id: filter?.id ?? '',
      pod_sandbox_id: filter?.pod_sandbox_id ?? '',
      state: null,
      label_selector: filter?.label_selector ?? {},
    });
    this.forgetOld();
    return Promise.all(containers.map((c) => this.ofContainer(c)));
  }

  private async ofPod(s: Sandbox, all: CriContainer[]): Promise<PodSandboxStats> {
    const mine = all.filter((c) => c.meta.SandboxID === s.meta.ID);
    const sample = await this.podSample(s, mine.filter(running));
    const at = nowNs();
    // the pod's network namespace is any of its processes': the pause's, else a running container's
    const pid = s.pid || mine.find(running)?.status.Pid || 0;
    const network = s.meta.NetNSPath && pid > 0 ? await readNetDev(pid) : undefined;
    return {
      attributes: { id: s.meta.ID, metadata: s.meta.Config.metadata, labels: s.meta.Config.labels, annotations: s.meta.Config.annotations },
      linux: {
        cpu: sample ? this.cpu(s.meta.ID, sample, at) : null,
        memory: sample ? memory(sample, at) : null,
        network: network ? networkUsage(network, at) : null,
        process: sample ? { timestamp: at.toString(), process_count: u64(sample.processes) } : null,
        containers: await Promise.all(mine.map((c) => this.ofContainer(c))),
      },
      windows: null,
    };
  }

  /**
   * The pod's cgroup: its cgroup parent when it has one (every container of the pod is under it),
   * else the pause's cgroup (when it has a pause) and its live containers' together.
   */
  private async podSample(s: Sandbox, live: CriContainer[]): Promise<CgroupSample | undefined> {
    const parent = s.meta.Config.linux?.cgroup_parent;
    if (parent) return readCgroup(parent);
    const pause = s.meta.Pause !== false;
    const paths = [...(pause ? [cgroupsPathOf(s.record)] : []), ...live.map((c) => cgroupsPathOf(c.record))].filter((p) => p !== '');
    const samples = await Promise.all(paths.map((p) => readCgroup(p)));
    // a pause that is gone, or no container running in a pod without one: nothing to measure
    if (samples[0] === undefined) return undefined;
    return sumSamples(samples.filter((x): x is CgroupSample => x !== undefined));
  }

  private async ofContainer(c: CriContainer): Promise<ContainerStats> {
    const id = c.record.id;
    const attributes = { id, metadata: c.meta.Config.metadata, labels: c.meta.Config.labels, annotations: c.meta.Config.annotations };
    const writable_layer = await this.writableLayer(c);
    const path = cgroupsPathOf(c.record);
    const sample = path && running(c) ? await readCgroup(path) : undefined;
    if (!sample) return { attributes, cpu: null, memory: null, writable_layer };
    const at = nowNs();
    return { attributes, cpu: this.cpu(id, sample, at), memory: memory(sample, at), writable_layer };
  }

  /** CPU time, and its rate since the previous reading of the same pod or container (0 the first time), as containerd computes it. */
  private cpu(id: string, sample: CgroupSample, at: bigint) {
    const last = this.lastCpu.get(id);
    this.lastCpu.set(id, { cpuNs: sample.cpuNs, at, seenMs: Date.now() });
    let nanoCores = 0n;
    if (last && at > last.at && sample.cpuNs >= last.cpuNs) nanoCores = ((sample.cpuNs - last.cpuNs) * 1_000_000_000n) / (at - last.at);
    return { timestamp: at.toString(), usage_core_nano_seconds: u64(sample.cpuNs), usage_nano_cores: u64(nanoCores) };
  }

  /** The container's snapshot usage, measured at most every layerUsageTtlMs; fs_id is the snapshotter's root. */
  private async writableLayer(c: CriContainer) {
    const { snapshotter, ns } = this.d;
    const key = c.record.snapshotKey;
    let m = this.layers.get(c.record.id);
    if (!m || Date.now() - m.measuredMs > layerUsageTtlMs) {
      const usage = key
        ? await snapshotter.usage(ns, key).catch((err) => {
            if (isCode(err, 'NotFound')) return { size: 0, inodes: 0 };
            throw err;
          })
        : { size: 0, inodes: 0 };
      m = { at: nowNs(), size: usage.size, inodes: usage.inodes, measuredMs: Date.now() };
      this.layers.set(c.record.id, m);
    }
    return {
      timestamp: m.at.toString(),
      fs_id: { mountpoint: snapshotter.backend.root },
      used_bytes: u64(BigInt(m.size)),
      inodes_used: u64(BigInt(m.inodes)),
    };
  }

  private forgetOld(): void {
    const now = Date.now();
    for (const [id, r] of this.lastCpu) if (now - r.seenMs > readingTtlMs) this.lastCpu.delete(id);
    for (const [id, m] of this.layers) if (now - m.measuredMs > readingTtlMs) this.layers.delete(id);
  }
}

/** working set = usage − inactive file pages; available = limit − working set (0 without a limit), as containerd and the kubelet count. */
function memory(s: CgroupSample, at: bigint) {
  const workingSet = s.inactiveFile < s.memoryUsage ? s.memoryUsage - s.inactiveFile : 0n;
  const available = s.memoryLimit !== undefined && s.memoryLimit > workingSet ? s.memoryLimit - workingSet : 0n;
  return {
    timestamp: at.toString(),
    working_set_bytes: u64(workingSet),
    available_bytes: u64(available),
    usage_bytes: u64(s.memoryUsage),
    rss_bytes: u64(s.rss),
    page_faults: u64(s.pageFaults),
    major_page_faults: u64(s.majorPageFaults),
  };
}

function networkUsage(ifaces: InterfaceCounters[], at: bigint) {
  const usage = (i: InterfaceCounters) => ({
    name: i.name,
    rx_bytes: u64(i.rxBytes),
    rx_errors: u64(i.rxErrors),
    tx_bytes: u64(i.txBytes),
    tx_errors: u64(i.txErrors),
  });
  const eth0 = ifaces.find((i) => i.name === defaultInterface);
  return { timestamp: at.toString(), default_interface: eth0 ? usage(eth0) : null, interfaces: ifaces.map(usage) };
}

/** The RPCs of lane cri-stats: stats, events, UpdateRuntimeConfig and the metrics and checkpoint answers. */
export type StatsRpc =
  | 'PodSandboxStats'
  | 'ListPodSandboxStats'
  | 'ContainerStats'
  | 'ListContainerStats'
  | 'GetContainerEvents'
  | 'UpdateRuntimeConfig'
  | 'CheckpointContainer'
  | 'ListMetricDescriptors'
  | 'ListPodSandboxMetrics';

/** The stats RPCs of the RuntimeService. */
export function statsHandlers(
  stats: CriStats,
): Pick<RuntimeServiceHandlers, 'PodSandboxStats' | 'ListPodSandboxStats' | 'ContainerStats' | 'ListContainerStats'> {
  return {
    PodSandboxStats: unary(async (req) => ({ stats: await stats.podStats(req.pod_sandbox_id) })),
    ListPodSandboxStats: unary(async (req) => ({ stats: await stats.listPodStats(req.filter) })),
    ContainerStats: unary(async (req) => ({ stats: await stats.containerStats(req.container_id) })),
    ListContainerStats: unary(async (req) => ({ stats: await stats.listContainerStats(req.filter) })),
  };
}
