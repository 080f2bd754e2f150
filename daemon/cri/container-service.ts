import type { ContainerStatus } from '../../api/gen/runtime/v1/ContainerStatus.ts';
import type { RuntimeServiceHandlers } from '../../api/gen/runtime/v1/RuntimeService.ts';
import { unary } from '../grpc.ts';
import type { CriContainer, CriContainers } from './containers.ts';
import type { CriImages } from './images.ts';

/** The RuntimeService RPCs of containers in pods (docs/cri.md, "Containers"). */
export type ContainerRpc =
  | 'CreateContainer'
  | 'StartContainer'
  | 'StopContainer'
  | 'RemoveContainer'
  | 'ListContainers'
  | 'ContainerStatus'
  | 'UpdateContainerResources'
  | 'ReopenContainerLog';

const toContainer = (c: CriContainer) => ({
  id: c.meta.ID,
  pod_sandbox_id: c.meta.SandboxID,
  metadata: c.meta.Config.metadata,
  image: c.meta.Config.image,
  image_ref: c.meta.ImageRef,
  state: c.state,
  created_at: c.status.CreatedAt,
  labels: c.meta.Config.labels,
  annotations: c.meta.Config.annotations,
});

/** containerd's reason of an exited container: what was recorded (OOMKilled, StartError, Unknown), else Completed or Error. */
export function reasonOf(c: CriContainer): string {
  if (c.state !== 'CONTAINER_EXITED' || c.status.Reason) return c.status.Reason;
  return c.status.ExitCode === 0 ? 'Completed' : 'Error';
}

/**
 * A container's status as containerd's CRI gives it, but for the image: here the config's image
 * and the image id (what an event carries); ContainerStatus looks the image's names up on top.
 */
export function containerStatusOf(c: CriContainer): ContainerStatus {
  return {
    id: c.meta.ID,
    metadata: c.meta.Config.metadata,
    state: c.state,
    created_at: c.status.CreatedAt,
    started_at: c.status.StartedAt,
    finished_at: c.status.FinishedAt,
    exit_code: c.status.ExitCode,
    image: c.meta.Config.image,
    image_ref: c.meta.ImageRef,
    reason: reasonOf(c),
    message: c.status.Message,
    labels: c.meta.Config.labels,
    annotations: c.meta.Config.annotations,
    mounts: c.meta.Config.mounts,
    log_path: c.meta.LogPath,
  };
}

/** ContainerStatus's `info` with verbose, in containerd 1.6's keys (crictl inspect shows it). */
function verboseInfo(c: CriContainer) {
  return {
    sandboxID: c.meta.SandboxID,
    pid: c.status.Pid,
    removing: c.removing,
    snapshotKey: c.record.snapshotKey,
    snapshotter: c.record.snapshotter,
    runtimeType: c.record.runtime.name,
    runtimeOptions: null,
    config: c.meta.Config,
    runtimeSpec: c.record.spec ? (JSON.parse(c.record.spec.value.toString('utf8')) as unknown) : null,
  };
}

export function containerRpcs(containers: CriContainers, images: CriImages): Pick<RuntimeServiceHandlers, ContainerRpc> {
  return {
    CreateContainer: unary(async (req) => ({ container_id: await containers.create(req.pod_sandbox_id, req.config) })),
    StartContainer: unary(async (req) => {
      await containers.start(req.container_id);
      return {};
    }),
    StopContainer: unary(async (req) => {
      await containers.stop(req.container_id, Number(req.timeout));
      return {};
    }),
    RemoveContainer: unary(async (req) => {
      await containers.remove(req.container_id);
      return {};
    }),
    ListContainers: unary(async (req) => ({ containers: containers.list(req.filter).map(toContainer) })),
    ContainerStatus: unary(async (req) => {
      const c = containers.status(req.container_id);
      // as containerd: the image by its first tag, its ref by its first repo digest when it has them
      const image = await images.find(c.meta.ImageRef).catch(() => undefined);
      const status = {
        ...containerStatusOf(c),
        image: { image: image?.repoTags[0] ?? c.meta.Config.image?.image ?? '', annotations: {} },
        image_ref: image?.repoDigests[0] ?? c.meta.ImageRef,
        resources: { linux: c.status.Resources ?? c.meta.Config.linux?.resources ?? null, windows: null },
      };
      const info: Record<string, string> = req.verbose ? { info: JSON.stringify(verboseInfo(c)) } : {};
      return { status, info };
    }),
    UpdateContainerResources: unary(async (req) => {
      await containers.updateResources(req.container_id, req.linux, req.annotations);
      return {};
    }),
    ReopenContainerLog: unary(async (req) => {
      await containers.reopenLog(req.container_id);
      return {};
    }),
  };
}
