// What stats and events read of the CRI's containers: their records in the CRI's namespace
// (labelled io.cri-containerd.kind=container) and the metadata extension containerd 1.6 keeps.
import type { ContainerConfig__Output } from '../../api/gen/runtime/v1/ContainerConfig.ts';
import { invalidArgument, notFound } from '../../core/errors.ts';
import type { Container, ContainerStore } from '../containers/store.ts';
import type { TaskManager } from '../runtime/manager.ts';
import { kindLabel } from './sandboxes.ts';

/** The container extension holding a CRI container's metadata (containerd 1.6's containerstore.Metadata, JSON). */
export const containerMetadataExtension = 'io.cri-containerd.container.metadata';

export interface ContainerMetadata {
  ID: string;
  Name: string;
  SandboxID: string;
  Config: ContainerConfig__Output;
  ImageRef?: string;
  LogPath?: string;
}

export interface CriContainer {
  record: Container;
  meta: ContainerMetadata;
}

/** The metadata of a CRI container record: containerd's {Version, Metadata} wrapper or the bare object. */
export function readContainerMetadata(c: Container): ContainerMetadata | undefined {
  const ext = c.extensions[containerMetadataExtension];
  if (!ext) return undefined;
  try {
    const parsed = JSON.parse(ext.value.toString('utf8')) as { Metadata?: ContainerMetadata } & Partial<ContainerMetadata>;
    const meta = parsed.Metadata ?? (parsed as ContainerMetadata);
    return typeof meta.ID === 'string' && typeof meta.SandboxID === 'string' ? meta : undefined;
  } catch {
    return undefined;
  }
}

/** The spec's linux.cgroupsPath of a record, '' when it has none. */
export function cgroupsPathOf(c: Container): string {
  if (!c.spec) return '';
  try {
    const spec = JSON.parse(Buffer.from(c.spec.value).toString('utf8')) as { linux?: { cgroupsPath?: string } };
    return spec.linux?.cgroupsPath ?? '';
  } catch {
    return '';
  }
}

export class CriContainerRecords {
  constructor(
    private readonly ns: string,
    private readonly containers: ContainerStore,
    private readonly tasks: TaskManager,
  ) {}

  async list(): Promise<CriContainer[]> {
    const records = await this.containers.list(this.ns, [`labels."${kindLabel}"==container`]);
    return records.flatMap((record) => {
      const meta = readContainerMetadata(record);
      return meta ? [{ record, meta }] : [];
    });
  }

  /** A container by its id or a unique prefix of it. */
  async resolve(id: string): Promise<CriContainer> {
    if (id === '') throw invalidArgument('a container id is required');
    const matches = (await this.list()).filter((c) => c.record.id.startsWith(id));
    if (matches.length === 0) throw notFound(`container ${id} not found`);
    if (matches.length > 1) throw invalidArgument(`container id prefix ${id} is ambiguous`);
    return matches[0]!;
  }

  /** The task's status when the container has a task, else undefined. */
  async taskStatus(id: string): Promise<string | undefined> {
    if (!this.tasks.has(this.ns, id)) return undefined;
    const s = await this.tasks
      .get(this.ns, id)
      .state('')
      .catch(() => undefined);
    return s?.status;
  }

  /** True while the container's task runs (or is created or paused: its cgroup is there). */
  async hasLiveTask(id: string): Promise<boolean> {
    const status = await this.taskStatus(id);
    return status !== undefined && status !== 'STOPPED';
  }
}
