/**
 * The names a container record is written with: type URLs, labels, the default runtime. A module
 * of constants only, so that the CLI's start-up loads nothing else for them.
 */

export const specTypeUrl = 'types.containerd.io/opencontainers/runtime-spec/1/Spec';
export const processTypeUrl = 'types.containerd.io/opencontainers/runtime-spec/1/Process';
export const resourcesTypeUrl = 'types.containerd.io/opencontainers/runtime-spec/1/LinuxResources';
export const stopSignalLabel = 'io.containerd.image.config.stop-signal';
export const runcOptionsType = 'containerd.runc.v1.Options';
export const defaultRuntime = 'io.containerd.runc.v2';

/**
 * berth's own container label: the daemon removes the container, its task and its snapshot when
 * its process exits (`berth run --rm`, Docker's AutoRemove), also after a daemon restart.
 */
export const autoRemoveLabel = 'io.berth.auto-remove';

/**
 * berth's own container label: the networking berthd sets up for the container's task (JSON, see
 * core/spec/network.ts). Containers without it (everything `ctr` makes) keep containerd's semantics.
 */
export const networkLabel = 'io.berth/network';

/**
 * The container label asking berthd to keep a log of the container's output, as JSON
 * `{"maxSize": BYTES, "maxFiles": N}` (both optional); `berth run` sets it (daemon/logs).
 */
export const logLabel = 'io.berth.log';
