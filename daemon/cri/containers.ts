import { randomBytes } from 'node:crypto';
import { existsSync, promises as fs, renameSync, writeFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { hostname as osHostname } from 'node:os';
import { dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import type { ContainerConfig__Output } from '../../api/gen/runtime/v1/ContainerConfig.ts';
import type { ContainerFilter__Output } from '../../api/gen/runtime/v1/ContainerFilter.ts';
import type { LinuxContainerResources__Output } from '../../api/gen/runtime/v1/LinuxContainerResources.ts';
import type { Timestamp } from '../../api/timestamp.ts';
import { unpackAnyOf } from '../../core/any.ts';
import { BerthError, failedPrecondition, invalidArgument, isCode, notFound, unimplemented } from '../../core/errors.ts';
import { Mutex } from '../../core/mutex.ts';
import { signalNumber } from '../../core/signals.ts';
import { stopSignal } from '../../core/spec/container.ts';
import { specTypeUrl } from '../../core/spec/names.ts';
import type { ImageConfig } from '../../core/spec/types.ts';
import { Accounts } from '../../core/spec/user.ts';
import { openFifo } from '../../native/fifo.ts';
import { mknod, S_IFIFO } from '../../native/index.ts';
import { withReadOnlyMounts } from '../../native/mount.ts';
import { anyToMessage, type Container } from '../containers/store.ts';
import type { Exchange } from '../events/exchange.ts';
import { expireLabel } from '../leases/store.ts';
import { AccountsCache } from '../run/image-cache.ts';
import type { RuntimeTask } from '../runtime/task.ts';
import { copyUp } from '../volumes/copy-up.ts';
import { type ContainerResources, type ContainerSpec, containerSpec, imageVolumes, ociResources } from './container-spec.ts';
import { CriLogCopy } from './log-copy.ts';
import { hostNetwork } from './sandbox-spec.ts';
import { type CriBase, kindLabel, ownOomScoreAdj, type PodMembers, type PodSandboxes } from './sandboxes.ts';

/** The container extension holding a CRI container's metadata, in containerd 1.6's containerstore.Metadata keys. */
export const containerMetadataExtension = 'io.cri-containerd.container.metadata';
const metadataType = 'github.com/containerd/cri/pkg/store/container/Metadata';
const resourcesType = 'types.containerd.io/opencontainers/runtime-spec/1/LinuxResources';

export interface ContainerMetadata {
  Version: 'v1';
  Metadata: {
    ID: string;
    /** name_sandboxname_sandboxnamespace_sandboxuid_attempt, reserved until the container is removed */
    Name: string;
    SandboxID: string;
    Config: ContainerConfig__Output;
    /** the image's id */
    ImageRef: string;
    /** the full path of the CRI log; '' for none */
    LogPath: string;
    StopSignal: string;
  };
}

/**
 * What berth keeps of a container's life in `<root>/io.containerd.grpc.v1.cri/containers/<id>/status`
 * (containerd keeps one there too): times in nanoseconds since the epoch (as decimal strings: they
 * do not fit a double), '0' for not yet.
 */
export interface ContainerStatusFile {
  Pid: number;
  CreatedAt: string;
  StartedAt: string;
  FinishedAt: string;
  ExitCode: number;
  Reason: string;
  Message: string;
  /** what UpdateContainerResources set last */
  Resources?: LinuxContainerResources__Output;
}

export type ContainerState = 'CONTAINER_CREATED' | 'CONTAINER_RUNNING' | 'CONTAINER_EXITED' | 'CONTAINER_UNKNOWN';

/** A container as the RPCs describe it. */
export interface CriContainer {
  meta: ContainerMetadata['Metadata'];
  record: Container;
  status: ContainerStatusFile;
  state: ContainerState;
  removing: boolean;
}

/** What Attach needs of a CRI container (see the streaming server). */
export interface AttachTarget {
  tty: boolean;
  /** the container's CRI log (its output arrives here, CRI format: TIMESTAMP STREAM P|F message) */
  logPath: string;
  /** berthd's write end of the container's stdin (a FIFO berthd keeps open); null when config.stdin is false */
  stdin: Writable | null;
  /** config.stdin_once: the container's stdin closes when the first attach's stdin ends */
  stdinOnce: boolean;
}

export interface ContainersDeps extends CriBase {
  sandboxes: PodSandboxes;
  exchange: Exchange;
  /** <root>/io.containerd.grpc.v1.cri/containers: each container's status file */
  dir: string;
  /** <state>/io.containerd.grpc.v1.cri/containers: each container's stdin FIFO */
  stateDir: string;
}

interface Entry extends Omit<CriContainer, 'state'> {
  /** settles once the started container's exit is recorded */
  exited?: Promise<void>;
  /** berthd's write end of the stdin FIFO, while the container runs */
  stdin: Socket | null;
  /** the CRI log berthd writes itself, for a runtime under a shim (berth-monitor writes the others') */
  logCopy?: CriLogCopy;
}

const leaseLifetimeMs = 24 * 3600 * 1000;
/** containerd's errorStartExitCode and reasons */
const startErrorCode = 128;
const unknownExitCode = 255;

const nowNs = () => (BigInt(Date.now()) * 1_000_000n).toString();
const nsOfTimestamp = (t: Timestamp | null | undefined) =>
  t && (Number(t.seconds) > 0 || t.nanos > 0) ? (BigInt(t.seconds) * 1_000_000_000n + BigInt(t.nanos)).toString() : nowNs();

/** containerd's Status.State(). */
/** The output kept for Attach of a container without a CRI log: emptied when it would grow past this. */
const unloggedOutputBytes = 1 << 20;

export function stateOf(s: ContainerStatusFile): ContainerState {
  if (s.FinishedAt !== '0') return 'CONTAINER_EXITED';
  if (s.StartedAt !== '0') return 'CONTAINER_RUNNING';
  if (s.CreatedAt !== '0') return 'CONTAINER_CREATED';
  return 'CONTAINER_UNKNOWN';
}

/**
 * The containers of pods (docs/cri.md), as containerd 1.6's CRI keeps them: each a container
 * record in the CRI's namespace labelled `io.cri-containerd.kind=container` with its metadata in
 * an extension, a snapshot of its image, and, once started, a task of the same id whose output the
 * monitor writes to the CRI log. An exited container's task is deleted; its exit stays in its
 * status file until it is removed. Everything survives a berthd restart (load()).
 */
export class CriContainers implements PodMembers {
  private readonly entries = new Map<string, Entry>();
  /** reserved names → container id ('' while its CreateContainer runs) */
  private readonly names = new Map<string, string>();
  private readonly locks = new Map<string, Mutex>();
  /** the images' users and groups, read once per image */
  private readonly accounts = new AccountsCache();

  constructor(private readonly d: ContainersDeps) {}

  /** Reads every container back (a restarted berthd), follows the running ones, records what ended meanwhile. */
  async load(): Promise<void> {
    const { d } = this;
    const loaded: Entry[] = [];
    for (const record of await d.containers.list(d.ns, [`labels."${kindLabel}"==container`])) {
      const meta = readMetadata(record);
      if (!meta) {
        d.log.warn('a CRI container record without metadata', { id: record.id });
        continue;
      }
      const status = (await readStatus(join(d.dir, record.id))) ?? {
        Pid: 0,
        CreatedAt: (BigInt(record.createdAt) * 1_000_000n).toString(),
        StartedAt: '0',
        FinishedAt: '0',
        ExitCode: 0,
        Reason: '',
        Message: '',
      };
      const e: Entry = { meta: meta.Metadata, record, status, removing: false, stdin: null };
      this.entries.set(record.id, e);
      this.names.set(meta.Metadata.Name, record.id);
      loaded.push(e);
    }
    // once the containers are known: an OOM kill while berthd was away is among the events replayed now
    d.exchange.subscribe(['topic=="/tasks/oom"'], (ev) => {
      if (ev.namespace !== d.ns) return;
      let id = '';
      try {
        id = unpackAnyOf<{ container_id: string }>(ev.event, 'containerd.events.TaskOOM').container_id;
      } catch {
        return;
      }
      const e = this.entries.get(id);
      if (!e) return;
      e.status.Reason = 'OOMKilled';
      this.save(e).catch((err: Error) => d.log.warn('cannot save a container status', { id, error: err.message }));
    });
    for (const e of loaded) {
      await this.recover(e).catch((err: Error) => d.log.warn('cannot recover a CRI container', { id: e.meta.ID, error: err.message }));
    }
  }

  private async recover(e: Entry): Promise<void> {
    const { tasks, ns } = this.d;
    const id = e.meta.ID;
    const state = stateOf(e.status);
    const task = tasks.has(ns, id) ? tasks.get(ns, id) : undefined;
    const s = task ? await task.state('').catch(() => undefined) : undefined;
    if (state === 'CONTAINER_RUNNING') {
      if (task && s) {
        this.openStdin(e);
        if (e.meta.LogPath && !this.d.tasks.writesLogs(e.record.runtime.name)) await this.copyLog(e, false);
        this.watch(e, task);
        return;
      }
      // its task is gone: it ended while berthd was away, how is not known (containerd's unknown exit)
      Object.assign(e.status, { Pid: 0, FinishedAt: nowNs(), ExitCode: unknownExitCode, Reason: 'Unknown' });
      await this.save(e);
      return;
    }
    if (state === 'CONTAINER_CREATED' && task && s && s.status !== 'CREATED' && s.status !== 'STOPPED') {
      // berthd stopped between the task's start and the status's: it was started
      Object.assign(e.status, { Pid: task.pid, StartedAt: nowNs() });
      await this.save(e);
      this.openStdin(e);
      this.watch(e, task);
      return;
    }
    if (task) await this.deleteTask(id);
  }

  async create(sandboxId: string, config: ContainerConfig__Output | null): Promise<string> {
    const { d } = this;
    const meta = config?.metadata;
    if (!config || !meta) throw invalidArgument('the container config must include metadata');
    if (meta.name === '') throw invalidArgument('the container metadata must have a name');
    const image = config.image?.image ?? '';
    if (image === '') throw invalidArgument('the container config must name an image');
    const sandbox = await d.sandboxes.status(sandboxId);
    if (sandbox.state !== 'SANDBOX_READY') throw failedPrecondition(`sandbox ${sandbox.meta.ID} is not ready`);
    const sandboxMeta = sandbox.meta.Config.metadata;
    const name = [meta.name, sandboxMeta?.name ?? '', sandboxMeta?.namespace ?? '', sandboxMeta?.uid ?? '', String(meta.attempt)].join('_');
    const holder = this.names.get(name);
    if (holder !== undefined)
      throw new BerthError('AlreadyExists', `the container name ${JSON.stringify(name)} is reserved for ${holder || 'a container being created'}`);
    this.names.set(name, '');
    const id = randomBytes(32).toString('hex');
    const undo: Array<() => Promise<unknown>> = [];
    try {
      const found = await d.images.find(image);
      if (!found) throw notFound(`image ${JSON.stringify(image)} not found`);
      const imageConfig = (found.config.config ?? {}) as ImageConfig;
      const imageName = await d.images.ensureUnpacked(found, image);

      const runtimeName = sandbox.meta.RuntimeHandler || d.config.containerd.defaultRuntimeName;
      const runtime = d.config.containerd.runtimes[runtimeName];
      let targetPid: number | undefined;
      const nsOptions = config.linux?.security_context?.namespace_options;
      if (nsOptions?.pid === 'TARGET') {
        const target = this.entries.get(nsOptions.target_id);
        if (!target || stateOf(target.status) !== 'CONTAINER_RUNNING') throw notFound(`target container ${nsOptions.target_id} is not running`);
        targetPid = target.status.Pid;
      }

      const lease = (await d.leases.create(d.ns, '', { [expireLabel]: new Date(Date.now() + leaseLifetimeMs).toISOString() })).id;
      const dropLease = () => d.leases.delete(d.ns, lease);
      undo.push(dropLease);
      const mounts = await d.snapshotter.prepare(d.ns, id, found.chainId, {}, lease);
      undo.push(() => d.snapshotter.remove(d.ns, id));
      undo.push(() => fs.rm(join(d.dir, id), { recursive: true, force: true }));
      const build = (accounts: Accounts, volumes: Array<{ containerPath: string; hostPath: string }>) =>
        containerSpec({
          namespace: d.ns,
          id,
          sandboxId: sandbox.meta.ID,
          config,
          sandboxConfig: sandbox.meta.Config,
          image: { name: image, config: imageConfig },
          accounts,
          podNamespaces: d.sandboxes.namespaces(sandbox),
          targetPid,
          volumes,
          files: d.sandboxes.files(sandbox),
          hostname: hostNetwork(sandbox.meta.Config) ? osHostname() : sandbox.meta.Config.hostname,
          oomScoreAdjFloor: d.config.restrictOomScoreAdj ? ownOomScoreAdj() : undefined,
          podAnnotations: runtime?.podAnnotations,
          containerAnnotations: runtime?.containerAnnotations,
          privilegedWithoutHostDevices: runtime?.privilegedWithoutHostDevices,
        });
      // the image's VOLUMEs are copied up from its root; without any, its users are all it takes
      const volumePaths = imageVolumes(imageConfig, config.mounts);
      const spec =
        volumePaths.length > 0
          ? await withReadOnlyMounts(mounts, async (root) => build(new Accounts(root), await this.makeVolumes(id, root, volumePaths)))
          : await this.accounts.withAccounts(d.snapshotter.name, found.chainId, mounts, (accounts) => build(accounts, []));
      const logDir = sandbox.meta.Config.log_directory;
      const metadata: ContainerMetadata = {
        Version: 'v1',
        Metadata: {
          ID: id,
          Name: name,
          SandboxID: sandbox.meta.ID,
          Config: config,
          ImageRef: found.id,
          LogPath: logDir && config.log_path ? join(logDir, config.log_path) : '',
          StopSignal: stopSignal(imageConfig.StopSignal, (m) => d.log.warn(m, { id })),
        },
      };
      const labels = { ...(imageConfig.Labels ?? {}), ...config.labels, [kindLabel]: 'container' };
      const record = await d.containers.create(d.ns, {
        id,
        labels,
        image: imageName,
        runtime: sandbox.record.runtime,
        spec: { typeUrl: specTypeUrl, value: Buffer.from(JSON.stringify(spec)) },
        snapshotter: d.snapshotter.name,
        snapshotKey: id,
        extensions: { [containerMetadataExtension]: { typeUrl: metadataType, value: Buffer.from(JSON.stringify(metadata)) } },
        sandbox: '',
      });
      undo.push(() => d.containers.delete(d.ns, id));
      const e: Entry = {
        meta: metadata.Metadata,
        record,
        status: { Pid: 0, CreatedAt: nowNs(), StartedAt: '0', FinishedAt: '0', ExitCode: 0, Reason: '', Message: '' },
        removing: false,
        stdin: null,
      };
      await this.save(e);
      undo.splice(undo.indexOf(dropLease), 1);
      dropLease().catch((err: Error) => d.log.warn('cannot delete a lease', { lease, error: err.message }));
      this.entries.set(id, e);
      this.names.set(name, id);
      return id;
    } catch (err) {
      this.names.delete(name);
      for (const step of undo.reverse()) {
        await step().catch((e: Error) => d.log.warn('undoing a failed CreateContainer', { id, error: e.message }));
      }
      throw err;
    }
  }

  /** Creates the container's task (its output to the CRI log) and starts it. */
  async start(id: string): Promise<void> {
    const e = this.resolve(id);
    await this.lock(e.meta.ID, async () => {
      const { d } = this;
      if (e.removing) throw failedPrecondition(`container ${e.meta.ID} is being removed`);
      const state = stateOf(e.status);
      if (state !== 'CONTAINER_CREATED') throw failedPrecondition(`container ${e.meta.ID} is in ${state} state`);
      const sandbox = await d.sandboxes.status(e.meta.SandboxID);
      if (sandbox.state !== 'SANDBOX_READY') throw failedPrecondition(`sandbox ${e.meta.SandboxID} is not running`);
      const config = e.meta.Config;
      let task: RuntimeTask | undefined;
      let startedAt = '0';
      try {
        const maxLine = d.config.maxContainerLogLineSize;
        const line = maxLine > 0 ? { maxLine } : {};
        const monitorWrites = d.tasks.writesLogs(e.record.runtime.name);
        let log: { path: string; maxSize: number; maxFiles: number; maxLine?: number } | undefined;
        let output = { stdout: '', stderr: '' };
        if (e.meta.LogPath) {
          await fs.mkdir(dirname(e.meta.LogPath), { recursive: true, mode: 0o755 });
          // the kubelet rotates CRI logs itself (ReopenContainerLog): the monitor never does
          if (monitorWrites) log = { path: e.meta.LogPath, maxSize: 0, maxFiles: 1, ...line };
          else output = await this.copyLog(e);
        } else if (monitorWrites) {
          // no log asked for: the output still goes somewhere Attach can follow, kept small
          await fs.mkdir(join(d.stateDir, e.meta.ID), { recursive: true, mode: 0o700 });
          log = { path: this.outputPath(e), maxSize: unloggedOutputBytes, maxFiles: 1, ...line };
        }
        const stdin = config.stdin ? await this.makeStdin(e.meta.ID) : '';
        if (stdin) this.openStdin(e);
        const record = e.record;
        // taken before the create: with startNext the process runs as soon as runc has created it,
        // and may exit (its exit time is its monitor's) before create answers
        startedAt = nowNs();
        task = await d.tasks.create(
          d.ns,
          {
            id: e.meta.ID,
            labels: record.labels,
            runtime: { name: record.runtime.name, options: anyToMessage(record.runtime.options) },
            spec: anyToMessage(record.spec)!,
          },
          { rootfs: await d.snapshotter.mounts(d.ns, e.meta.ID), stdin, ...output, terminal: config.tty, log, startNext: true },
        );
        await task.start('');
      } catch (err) {
        Object.assign(e.status, { Pid: 0, FinishedAt: nowNs(), ExitCode: startErrorCode, Reason: 'StartError', Message: (err as Error).message });
        await this.save(e).catch(() => undefined);
        this.closeStdin(e);
        await e.logCopy?.finish();
        e.logCopy = undefined;
        if (task) await this.deleteTask(e.meta.ID).catch(() => undefined);
        throw err;
      }
      Object.assign(e.status, { Pid: task.pid, StartedAt: startedAt });
      await this.save(e);
      this.watch(e, task);
    });
  }

  /**
   * The stop signal (the image's StopSignal, else SIGTERM), `timeout` seconds for the container to
   * exit, then SIGKILL; returns once the exit is recorded. A container that is not running is fine.
   */
  async stop(id: string, timeoutSeconds: number): Promise<void> {
    const e = this.resolve(id);
    const state = stateOf(e.status);
    if (state !== 'CONTAINER_RUNNING' && state !== 'CONTAINER_UNKNOWN') return;
    const { tasks, ns } = this.d;
    const exited = e.exited ?? Promise.resolve();
    if (!tasks.has(ns, e.meta.ID)) return await exited;
    const task = tasks.get(ns, e.meta.ID);
    const gone = (err: unknown) => {
      if (!isCode(err, 'NotFound')) throw err;
    };
    if (timeoutSeconds > 0) {
      await task.kill('', signalNumber(e.meta.StopSignal || 'SIGTERM'), false).catch(gone);
      let timer: NodeJS.Timeout | undefined;
      const inTime = await Promise.race([
        exited.then(() => true),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutSeconds * 1000))),
      ]);
      clearTimeout(timer);
      if (inTime) return;
    }
    await task.kill('', 9, true).catch(gone);
    await exited;
  }

  /** Stops a running container at once (as containerd 1.6 does), then its record, snapshot and files go. Fine when it is not there. */
  async remove(id: string): Promise<void> {
    let e: Entry;
    try {
      e = this.resolve(id);
    } catch (err) {
      if (isCode(err, 'NotFound')) return;
      throw err;
    }
    await this.stop(e.meta.ID, 0);
    await this.lock(e.meta.ID, async () => {
      const { d } = this;
      if (this.entries.get(e.meta.ID) !== e) return;
      e.removing = true;
      this.closeStdin(e);
      await this.deleteTask(e.meta.ID);
      await d.containers.delete(d.ns, e.meta.ID).catch((err) => {
        if (!isCode(err, 'NotFound')) throw err;
      });
      await d.snapshotter.remove(d.ns, e.meta.ID).catch((err) => {
        if (!isCode(err, 'NotFound')) throw err;
      });
      await fs.rm(join(d.dir, e.meta.ID), { recursive: true, force: true });
      await fs.rm(join(d.stateDir, e.meta.ID), { recursive: true, force: true });
      this.entries.delete(e.meta.ID);
      this.names.delete(e.meta.Name);
    });
    this.locks.delete(e.meta.ID);
  }

  status(id: string): CriContainer {
    return view(this.resolve(id));
  }

  list(filter: ContainerFilter__Output | null): CriContainer[] {
    return [...this.entries.values()].map(view).filter((c) => {
      if (filter?.id && !c.meta.ID.startsWith(filter.id)) return false;
      if (filter?.pod_sandbox_id && !c.meta.SandboxID.startsWith(filter.pod_sandbox_id)) return false;
      if (filter?.state && c.state !== filter.state.state) return false;
      const labels = c.meta.Config.labels ?? {};
      return Object.entries(filter?.label_selector ?? {}).every(([k, v]) => labels[k] === v);
    });
  }

  /**
   * UpdateContainerResources: the resources go into the stored spec (what a later start uses) and,
   * while the container runs, to its cgroup through the runtime's update.
   */
  async updateResources(id: string, resources: LinuxContainerResources__Output | null, annotations: Record<string, string>): Promise<void> {
    const e = this.resolve(id);
    await this.lock(e.meta.ID, async () => {
      const { d } = this;
      if (e.removing) throw failedPrecondition(`container ${e.meta.ID} is being removed`);
      if (!resources) return;
      const spec = JSON.parse(e.record.spec!.value.toString('utf8')) as ContainerSpec;
      const merged = mergeResources(spec.linux.resources ?? {}, ociResources(resources));
      spec.linux.resources = merged;
      e.record = await d.containers.update(d.ns, { ...e.record, spec: { typeUrl: specTypeUrl, value: Buffer.from(JSON.stringify(spec)) } }, ['spec']);
      e.status.Resources = resources;
      await this.save(e);
      if (stateOf(e.status) !== 'CONTAINER_RUNNING' || !d.tasks.has(d.ns, e.meta.ID)) return;
      const { devices: _, ...settable } = merged;
      await d.tasks.get(d.ns, e.meta.ID).update({ type_url: resourcesType, value: Buffer.from(JSON.stringify(settable)) }, annotations);
    });
  }

  /** ReopenContainerLog: the monitor opens the log's path again (the kubelet moved the file away). */
  async reopenLog(id: string): Promise<void> {
    const e = this.resolve(id);
    if (stateOf(e.status) !== 'CONTAINER_RUNNING' || !this.d.tasks.has(this.d.ns, e.meta.ID)) throw failedPrecondition('container is not running');
    if (e.logCopy) return e.logCopy.reopen();
    const task = this.d.tasks.get(this.d.ns, e.meta.ID) as RuntimeTask & { reopenLog?: () => Promise<void> };
    if (!task.reopenLog) throw unimplemented(`the runtime ${task.runtime} cannot reopen a container log`);
    await task.reopenLog();
  }

  /** What Attach needs: NotFound for an unknown id, FailedPrecondition when the container is not running. */
  async attachTarget(id: string): Promise<AttachTarget> {
    const e = this.resolve(id);
    if (stateOf(e.status) !== 'CONTAINER_RUNNING') throw failedPrecondition(`container ${e.meta.ID} is not running`);
    const config = e.meta.Config;
    return { tty: config.tty, logPath: this.outputPath(e), stdin: config.stdin ? e.stdin : null, stdinOnce: config.stdin_once };
  }

  /** Where the container's output goes: its CRI log, or a small file of berthd's when the kubelet asked for none. */
  private outputPath(e: Entry): string {
    return e.meta.LogPath || join(this.d.stateDir, e.meta.ID, 'output.log');
  }

  async stopAll(sandboxId: string): Promise<void> {
    for (const e of this.inSandbox(sandboxId)) await this.stop(e.meta.ID, 0);
  }

  async removeAll(sandboxId: string): Promise<void> {
    for (const e of this.inSandbox(sandboxId)) await this.remove(e.meta.ID);
  }

  private inSandbox(sandboxId: string): Entry[] {
    return [...this.entries.values()].filter((e) => e.meta.SandboxID === sandboxId);
  }

  /** A container by its id or a unique prefix of it (as containerd's truncindex). */
  private resolve(id: string): Entry {
    if (id === '') throw invalidArgument('a container id is required');
    const exact = this.entries.get(id);
    if (exact) return exact;
    const matches = [...this.entries.values()].filter((e) => e.meta.ID.startsWith(id));
    if (matches.length === 0) throw notFound(`container ${id} not found`);
    if (matches.length > 1) throw invalidArgument(`container id prefix ${id} is ambiguous`);
    return matches[0]!;
  }

  private lock<T>(id: string, fn: () => Promise<T>): Promise<T> {
    let m = this.locks.get(id);
    if (!m) this.locks.set(id, (m = new Mutex()));
    return m.run(fn);
  }

  /** Follows a started container's task: its exit is recorded, then the task deleted (the snapshot stays until removal). */
  private watch(e: Entry, task: RuntimeTask): void {
    e.exited = task
      .wait('')
      .then(
        (exit) => ({ code: exit.exit_status, at: nsOfTimestamp(exit.exited_at), reason: '' }),
        () => ({ code: unknownExitCode, at: nowNs(), reason: 'Unknown' }),
      )
      .then((exit) =>
        this.lock(e.meta.ID, async () => {
          if (e.status.FinishedAt === '0') {
            Object.assign(e.status, { Pid: 0, FinishedAt: exit.at, ExitCode: exit.code, Reason: e.status.Reason || exit.reason });
            await this.save(e);
          }
          this.closeStdin(e);
          await this.deleteTask(e.meta.ID);
          await e.logCopy?.finish();
          e.logCopy = undefined;
        }),
      )
      .catch((err: Error) => this.d.log.warn('recording the exit of a CRI container failed', { id: e.meta.ID, error: err.message }));
  }

  /** Kills what runs of a task (SIGKILL to all its processes), waits for it and deletes it. */
  private async deleteTask(id: string): Promise<void> {
    const { tasks, ns } = this.d;
    if (!tasks.has(ns, id)) return;
    const task = tasks.get(ns, id);
    const s = await task.state('').catch(() => undefined);
    if (s && s.status !== 'STOPPED' && s.status !== 'CREATED') {
      await task.kill('', 9, true).catch(() => undefined);
      await task.wait('');
    }
    await tasks.delete(ns, id).catch((err) => {
      if (!isCode(err, 'NotFound')) throw err;
    });
  }

  /**
   * A directory under the container's for each of the image's volumes, filled with what the image
   * holds there (copy-up, as containerd's WithVolumes): they go with the container.
   */
  private async makeVolumes(id: string, rootfs: string, paths: string[]): Promise<Array<{ containerPath: string; hostPath: string }>> {
    const out: Array<{ containerPath: string; hostPath: string }> = [];
    for (const containerPath of paths) {
      const hostPath = join(this.d.dir, id, 'volumes', randomBytes(16).toString('hex'));
      await fs.mkdir(hostPath, { recursive: true, mode: 0o755 });
      await copyUp(rootfs, containerPath, hostPath);
      out.push({ containerPath, hostPath });
    }
    return out;
  }

  /**
   * For a runtime under a shim: output FIFOs (stdout, and stderr without a terminal) under the
   * container's state dir, copied into its CRI log by berthd. `make`: new FIFOs (start), else the
   * existing ones (a restarted berthd).
   */
  private async copyLog(e: Entry, make = true): Promise<{ stdout: string; stderr: string }> {
    const dir = join(this.d.stateDir, e.meta.ID);
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    const paths = { stdout: join(dir, 'stdout'), stderr: e.meta.Config.tty ? '' : join(dir, 'stderr') };
    for (const p of [paths.stdout, paths.stderr]) if (p && make && !existsSync(p)) mknod(p, S_IFIFO | 0o600);
    const copy = new CriLogCopy(e.meta.LogPath, Math.max(0, this.d.config.maxContainerLogLineSize));
    copy.follow(paths.stdout, 'stdout');
    if (paths.stderr) copy.follow(paths.stderr, 'stderr');
    e.logCopy = copy;
    return paths;
  }

  /** The container's stdin FIFO (berthd writes, the monitor reads). */
  private async makeStdin(id: string): Promise<string> {
    const dir = join(this.d.stateDir, id);
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, 'stdin');
    if (!existsSync(path)) mknod(path, S_IFIFO | 0o600);
    return path;
  }

  /** Opens berthd's end of the stdin FIFO (kept while the container runs, for Attach). */
  private openStdin(e: Entry): void {
    const path = join(this.d.stateDir, e.meta.ID, 'stdin');
    if (!e.meta.Config.stdin || e.stdin || !existsSync(path)) return;
    const socket = new Socket({ fd: openFifo(path, 'write'), readable: false, writable: true });
    // the monitor going away (EPIPE) is the container's end, reported by its exit
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (e.stdin === socket) e.stdin = null;
    });
    e.stdin = socket;
  }

  private closeStdin(e: Entry): void {
    e.stdin?.destroy();
    e.stdin = null;
  }

  private async save(e: Entry): Promise<void> {
    const dir = join(this.d.dir, e.meta.ID);
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, 'status');
    writeFileSync(`${path}.tmp`, JSON.stringify(e.status), { mode: 0o600 });
    renameSync(`${path}.tmp`, path);
  }
}

function view(e: Entry): CriContainer {
  return { meta: e.meta, record: e.record, status: e.status, state: stateOf(e.status), removing: e.removing };
}

/** containerd's updateOCIResource: what is set replaces, what is not stays. */
function mergeResources(old: ContainerResources, update: ContainerResources): ContainerResources {
  const out: ContainerResources = { ...old };
  if (update.cpu) out.cpu = { ...old.cpu, ...update.cpu };
  if (update.memory) out.memory = { ...old.memory, ...update.memory };
  if (update.hugepageLimits) out.hugepageLimits = update.hugepageLimits;
  if (update.unified) out.unified = { ...old.unified, ...update.unified };
  return out;
}

export function readMetadata(c: Container): ContainerMetadata | undefined {
  const ext = c.extensions[containerMetadataExtension];
  if (!ext) return undefined;
  try {
    return JSON.parse(ext.value.toString('utf8')) as ContainerMetadata;
  } catch {
    return undefined;
  }
}

async function readStatus(dir: string): Promise<ContainerStatusFile | undefined> {
  const text = await fs.readFile(join(dir, 'status'), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as ContainerStatusFile;
  } catch {
    return undefined;
  }
}
