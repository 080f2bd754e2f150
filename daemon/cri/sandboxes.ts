import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { PodSandboxConfig__Output } from '../../api/gen/runtime/v1/PodSandboxConfig.ts';
import type { PodSandboxFilter__Output } from '../../api/gen/runtime/v1/PodSandboxFilter.ts';
import { packAny } from '../../core/any.ts';
import { alreadyExists, asInvalidArgument, BerthError, invalidArgument, isCode, notFound } from '../../core/errors.ts';
import type { Mount } from '../../core/mount.ts';
import { runcOptionsType, specTypeUrl } from '../../core/spec/names.ts';
import type { ImageConfig } from '../../core/spec/types.ts';
import { Accounts } from '../../core/spec/user.ts';
import { mountAll, unmountAll, withReadOnlyMounts } from '../../native/mount.ts';
import { createNamespace, type NamespaceType, removeNamespace, writeInNamespace } from '../../native/namespaces.ts';
import { anyFromMessage, type Container, type ContainerStore } from '../containers/store.ts';
import { expireLabel, type LeaseStore } from '../leases/store.ts';
import type { Logger } from '../log.ts';
import type { TaskManager } from '../runtime/manager.ts';
import type { SnapshotStore } from '../snapshots/store.ts';
import { type CriConfig, runcOptionsOf } from './config.ts';
import type { PodNamespaces } from './container-spec.ts';
import type { CriImages } from './images.ts';
import { type PodNetwork, type PodNetworking, podIps } from './pod-network.ts';
import { hostNetwork, podResolvConf, type SandboxSpec, sandboxSpec } from './sandbox-spec.ts';
import { podSysctls } from './sysctls.ts';

/** containerd's CRI labels: which kind of container a record is. */
export const kindLabel = 'io.cri-containerd.kind';
/** The container extension holding the sandbox's metadata (its CRI config, netns, IPs), as containerd 1.6 keeps it. */
export const metadataExtension = 'io.cri-containerd.sandbox.metadata';
const metadataType = 'github.com/containerd/cri/pkg/store/sandbox/Metadata';

/** What the sandbox record's metadata extension holds (containerd's sandbox.Metadata, JSON, plus berth's CNI record). */
export interface SandboxMetadata {
  Version: 'v1';
  Metadata: {
    ID: string;
    Name: string;
    Config: PodSandboxConfig__Output;
    NetNSPath: string;
    IP: string;
    AdditionalIPs: string[];
    RuntimeHandler: string;
    /** berth: what CNI ADD used and answered; absent once DEL ran (or with hostNetwork) */
    Network?: PodNetwork;
    /** berth: whether a pause process holds the pod (only a pod that shares its pid namespace has one); absent: made before pods could go without */
    Pause?: boolean;
    /** berth: the files holding the pod's own IPC and UTS namespaces (none where it shares the node's) */
    Namespaces?: { ipc?: string; uts?: string };
    /** berth: StopPodSandbox has begun on it */
    Stopped?: boolean;
  };
}

export type SandboxState = 'SANDBOX_READY' | 'SANDBOX_NOTREADY';

export interface Sandbox {
  meta: SandboxMetadata['Metadata'];
  record: Container;
  state: SandboxState;
  createdAt: number;
  pid: number;
}

/** What the CRI's pods and containers are made with: the CRI's namespace and config, and berthd's stores and runtime. */
export interface CriBase {
  ns: string;
  config: CriConfig;
  containers: ContainerStore;
  snapshotter: SnapshotStore;
  leases: LeaseStore;
  tasks: TaskManager;
  images: CriImages;
  log: Logger;
}

export interface SandboxDeps extends CriBase {
  network: PodNetworking;
  /** <root>/io.containerd.grpc.v1.cri/sandboxes: each sandbox's hostname, hosts and resolv.conf */
  dir: string;
  /** <state>/io.containerd.grpc.v1.cri/sandboxes: each sandbox's /dev/shm (a tmpfs) */
  stateDir: string;
  /** where network namespace files are made */
  netnsDir: string;
  hostResolvConf?: string;
  hostHosts?: string;
}

const leaseLifetimeMs = 24 * 3600 * 1000;

/** The containers of pods (CriContainers): a sandbox's stop and removal take them along, as containerd's do. */
export interface PodMembers {
  /** stops every container of the sandbox at once (SIGKILL) */
  stopAll(sandboxId: string): Promise<void>;
  /** removes every container of the sandbox */
  removeAll(sandboxId: string): Promise<void>;
}

/** Where a pod without a pause says that it runs and that it stopped (CriEvents). */
export interface SandboxEvents {
  sandboxEvent(id: string, type: 'CONTAINER_STARTED_EVENT' | 'CONTAINER_STOPPED_EVENT'): void;
}

/**
 * Pod sandboxes (docs/cri.md): each is a container record in the CRI's namespace labelled
 * `io.cri-containerd.kind=sandbox`. The pod's network, IPC and UTS namespaces are held by files
 * (bind mounts, as CRI-O's pinns holds them), so that a pod needs no process of its own: READY
 * from RunPodSandbox until StopPodSandbox, while those files are there. Only a pod whose
 * containers share one pid namespace gets a task running the sandbox image's pause process (the
 * pid namespace's init, reaping its orphans), as containerd gives every pod; it is READY while
 * the pause runs.
 */
export class PodSandboxes {
  /** the pods' containers, once they exist (set by the plugin) */
  members: PodMembers | undefined;
  /** the CRI's container events, once they exist (set by the plugin) */
  events: SandboxEvents | undefined;
  /** ids of sandboxes being stopped or removed, so that two calls do not tear down twice */
  private readonly busy = new Map<string, Promise<void>>();
  /** names of sandboxes being run now (a name is reserved by its record once that exists) */
  private readonly starting = new Set<string>();

  constructor(private readonly d: SandboxDeps) {}

  async run(config: PodSandboxConfig__Output | null, runtimeHandler: string): Promise<string> {
    const meta = config?.metadata;
    if (!config || !meta) throw invalidArgument('the sandbox config must include metadata');
    if (meta.name === '' || meta.namespace === '' || meta.uid === '') throw invalidArgument('the sandbox metadata must have a name, namespace and uid');
    const name = [meta.name, meta.namespace, meta.uid, String(meta.attempt)].join('_');
    const runtime = this.runtime(runtimeHandler);
    const id = randomBytes(32).toString('hex');
    if (this.starting.has(name)) throw alreadyExists(`the sandbox name ${JSON.stringify(name)} is reserved for a sandbox being run`);
    const taken = (await this.records()).find((c) => readMetadata(c)?.Metadata.Name === name);
    if (taken) throw alreadyExists(`the sandbox name ${JSON.stringify(name)} is reserved for ${taken.id}`);
    this.starting.add(name);
    try {
      return await this.create(id, name, config, runtimeHandler, runtime);
    } finally {
      this.starting.delete(name);
    }
  }

  private async create(
    id: string,
    name: string,
    config: PodSandboxConfig__Output,
    runtimeHandler: string,
    runtime: ReturnType<PodSandboxes['runtime']>,
  ): Promise<string> {
    const { d } = this;
    const meta = config.metadata!;
    const host = hostNetwork(config);
    const nsOptions = config.linux?.security_context?.namespace_options;
    const hostIpc = nsOptions?.ipc === 'NODE';
    const pause = (nsOptions?.pid ?? 'POD') === 'POD';
    const own = new Set<NamespaceType>([...(host ? [] : (['net', 'uts'] as const)), ...(hostIpc ? [] : (['ipc'] as const))]);
    const sysctls = podSysctls(config.linux?.sysctls ?? {}, own);
    // the kernel's limit (HOST_NAME_MAX), checked before anything is made
    if (Buffer.byteLength(config.hostname) > 64 || config.hostname.includes('\0'))
      throw invalidArgument(`the pod's hostname ${JSON.stringify(config.hostname)} is not a hostname: at most 64 bytes, no NUL`);
    const image = await this.sandboxImage(pause);
    const undo: Array<() => Promise<unknown>> = [];
    try {
      const dir = join(d.dir, id);
      await fs.mkdir(dir, { recursive: true, mode: 0o755 });
      undo.push(() => fs.rm(dir, { recursive: true, force: true }));
      const files = await this.writeFiles(dir, config, host);
      const stateDir = join(d.stateDir, id);
      await fs.mkdir(stateDir, { recursive: true, mode: 0o700 });
      const held: { ipc?: string; uts?: string } = {};
      undo.push(() => this.removeStateDir(id, held));
      if (hostIpc) files.shm = '/dev/shm';
      else {
        files.shm = await this.mountShm(id);
        createNamespace(join(stateDir, 'ipc'), 'ipc');
        held.ipc = join(stateDir, 'ipc');
      }
      if (!host) {
        createNamespace(join(stateDir, 'uts'), 'uts', config.hostname || undefined);
        held.uts = join(stateDir, 'uts');
      }
      const netns = host ? '' : join(d.netnsDir, `cni-${randomUUID()}`);
      if (!host) await fs.mkdir(d.netnsDir, { recursive: true, mode: 0o755 });

      let lease = '';
      let mounts: Mount[] = [];
      if (pause) {
        lease = (await d.leases.create(d.ns, '', { [expireLabel]: new Date(Date.now() + leaseLifetimeMs).toISOString() })).id;
        undo.push(() => d.leases.delete(d.ns, lease));
        mounts = await d.snapshotter.prepare(d.ns, id, image.chainId, {}, lease);
        undo.push(() => d.snapshotter.remove(d.ns, id));
      }
      const floor = d.config.restrictOomScoreAdj ? ownOomScoreAdj() : undefined;
      const build = (accounts: Accounts, imageConfig: ImageConfig) =>
        asInvalidArgument(() =>
          sandboxSpec({
            namespace: d.ns,
            id,
            config,
            image: imageConfig,
            accounts,
            netnsPath: netns || undefined,
            ipcPath: held.ipc,
            utsPath: held.uts,
            files,
            oomScoreAdjFloor: floor,
            podAnnotations: runtime.podAnnotations,
          }),
        );
      // without a pause the spec only describes the pod (its process never runs): no user to look up
      const spec = pause
        ? await withReadOnlyMounts(mounts, (root) => build(new Accounts(root), image.config))
        : build(new Accounts(undefined), { ...image.config, User: '' });
      const metadata: SandboxMetadata = {
        Version: 'v1',
        Metadata: {
          ID: id,
          Name: name,
          Config: config,
          NetNSPath: netns,
          IP: '',
          AdditionalIPs: [],
          RuntimeHandler: runtimeHandler,
          Pause: pause,
          Namespaces: held,
        },
      };
      const labels = { ...(image.config.Labels ?? {}), ...config.labels, [kindLabel]: 'sandbox' };
      const record = {
        id,
        labels,
        image: image.name,
        runtime: { name: runtime.name, options: anyFromMessage(runtime.options) },
        spec: anyFromMessage(specAny(spec)),
        snapshotter: d.snapshotter.name,
        snapshotKey: pause ? id : '',
        extensions: { [metadataExtension]: metadataAny(metadata) },
        sandbox: '',
      };
      await d.containers.create(d.ns, record);
      undo.push(() => d.containers.delete(d.ns, id));
      if (lease) d.leases.delete(d.ns, lease).catch((err: Error) => d.log.warn('cannot delete a lease', { lease, error: err.message }));

      // ADD runs while the pause is created and started (runc needs only the netns file): the
      // pod's start costs the longer of the two, and RunPodSandbox answers once both are done
      let added: Promise<PodNetwork> | undefined;
      if (!host) {
        const save = async (n: PodNetwork) => {
          const ips = podIps(n.result);
          metadata.Metadata.Network = n;
          metadata.Metadata.IP = ips[0] ?? '';
          metadata.Metadata.AdditionalIPs = ips.slice(1);
          await d.containers.update(d.ns, { ...record, extensions: { [metadataExtension]: metadataAny(metadata) } }, [`extensions.${metadataExtension}`]);
        };
        const begun = await d.network.begin({ id, name: meta.name, namespace: meta.namespace, uid: meta.uid }, netns, config.port_mappings);
        const adding = d.network.add(id, begun, save);
        adding.catch(() => undefined);
        added = adding;
        undo.push(async () => {
          const n = await adding.catch(() => undefined);
          if (n) await d.network.tearDown(id, n);
        });
      }
      if (pause) {
        const task = await d.tasks.create(
          d.ns,
          { id, labels, runtime: { name: runtime.name, options: runtime.options }, spec: specAny(spec) },
          { rootfs: mounts, stdin: '', stdout: '', stderr: '', terminal: false, startNext: true },
        );
        undo.push(() => this.killTask(id));
        await task.start('');
      }
      await added;
      // after ADD: a sysctl may name the pod's interfaces
      const at: Record<NamespaceType, string | undefined> = { net: netns || undefined, ipc: held.ipc, uts: held.uts };
      for (const s of sysctls) {
        try {
          writeInNamespace(at[s.namespace]!, s.namespace, s.file, s.value);
        } catch (err) {
          throw invalidArgument(`cannot set sysctl ${s.name} to ${JSON.stringify(s.value)}: ${(err as Error).message}`);
        }
      }
      if (!pause) this.events?.sandboxEvent(id, 'CONTAINER_STARTED_EVENT');
      return id;
    } catch (err) {
      for (const step of undo.reverse()) {
        await step().catch((e: Error) => d.log.warn('undoing a failed RunPodSandbox', { id, error: e.message }));
      }
      throw err;
    }
  }

  /**
   * Marks the sandbox stopped, kills its pause if it has one (SIGKILL, as containerd does),
   * releases its namespaces and tears its network down. Fine on a stopped or removed sandbox (the
   * CRI's contract: StopPodSandbox is idempotent).
   */
  async stop(id: string): Promise<void> {
    let c: Container;
    try {
      c = await this.resolve(id);
    } catch (err) {
      if (isCode(err, 'NotFound')) return;
      throw err;
    }
    await this.members?.stopAll(c.id);
    await this.exclusive(c.id, async () => {
      let stopping = false;
      const metadata = await this.updateMetadata(c.id, (m) => {
        stopping = m.Pause === false && !m.Stopped;
        m.Stopped = true;
      });
      if (stopping) this.events?.sandboxEvent(c.id, 'CONTAINER_STOPPED_EVENT');
      await this.killTask(c.id);
      await this.removeStateDir(c.id, metadata?.Metadata.Namespaces ?? {});
      const n = metadata?.Metadata.Network;
      if (n) {
        await this.d.network.tearDown(c.id, n);
        await this.updateMetadata(c.id, (m) => {
          delete m.Network;
        });
      }
    });
  }

  /** Changes the sandbox's metadata in its record; answers the new metadata (undefined: no record, or none in it). */
  private async updateMetadata(id: string, change: (m: SandboxMetadata['Metadata']) => void): Promise<SandboxMetadata | undefined> {
    const { d } = this;
    const current = await d.containers.get(d.ns, id);
    const metadata = readMetadata(current);
    if (!metadata) return undefined;
    change(metadata.Metadata);
    await d.containers.update(d.ns, { ...current, extensions: { [metadataExtension]: metadataAny(metadata) } }, [`extensions.${metadataExtension}`]);
    return metadata;
  }

  /** Stops the sandbox if need be, then removes its record, snapshot and files. A sandbox that is gone is fine. */
  async remove(id: string): Promise<void> {
    let c: Container;
    try {
      c = await this.resolve(id);
    } catch (err) {
      if (isCode(err, 'NotFound')) return;
      throw err;
    }
    await this.stop(c.id);
    await this.members?.removeAll(c.id);
    await this.exclusive(c.id, async () => {
      const { d } = this;
      await d.containers.delete(d.ns, c.id).catch((err) => {
        if (!isCode(err, 'NotFound')) throw err;
      });
      await d.snapshotter.remove(d.ns, c.id).catch((err) => {
        if (!isCode(err, 'NotFound')) throw err;
      });
      await fs.rm(join(d.dir, c.id), { recursive: true, force: true });
    });
  }

  /** The sandbox's files its containers mount: hostname (when the pod has one), hosts, resolv.conf and /dev/shm. */
  files(sandbox: Sandbox): { hostname?: string; hosts: string; resolvConf: string; shm: string } {
    const dir = join(this.d.dir, sandbox.meta.ID);
    const hostname = join(dir, 'hostname');
    const ipcNode = sandbox.meta.Config.linux?.security_context?.namespace_options?.ipc === 'NODE';
    return {
      ...(existsSync(hostname) ? { hostname } : {}),
      hosts: join(dir, 'hosts'),
      resolvConf: join(dir, 'resolv.conf'),
      shm: ipcNode ? '/dev/shm' : join(this.d.stateDir, sandbox.meta.ID, 'shm'),
    };
  }

  async status(id: string): Promise<Sandbox> {
    return this.describe(await this.resolve(id));
  }

  async list(filter: PodSandboxFilter__Output | null): Promise<Sandbox[]> {
    let records = await this.records();
    if (filter?.id) records = records.filter((c) => c.id.startsWith(filter.id));
    const sandboxes = await Promise.all(records.map((c) => this.describe(c)));
    return sandboxes.filter((s) => {
      if (filter?.state && s.state !== filter.state.state) return false;
      const selector = filter?.label_selector ?? {};
      return Object.entries(selector).every(([k, v]) => s.meta.Config.labels?.[k] === v);
    });
  }

  /**
   * The pod's namespaces for its containers: the files holding them, `host` where the pod shares
   * the node's; a pod made with a pause before its namespaces were held by files has them in the
   * pause's /proc.
   */
  namespaces(sandbox: Sandbox): PodNamespaces {
    const { meta, pid } = sandbox;
    const ns = meta.Config.linux?.security_context?.namespace_options;
    const held = meta.Namespaces;
    const viaPause = (type: string) => {
      if (pid > 0) return `/proc/${pid}/ns/${type}`;
      throw new BerthError('FailedPrecondition', `sandbox ${meta.ID} has no ${type} namespace`);
    };
    return {
      network: hostNetwork(meta.Config) ? 'host' : meta.NetNSPath || viaPause('net'),
      ipc: ns?.ipc === 'NODE' ? 'host' : (held?.ipc ?? viaPause('ipc')),
      uts: hostNetwork(meta.Config) ? 'host' : (held?.uts ?? viaPause('uts')),
      ...(pid > 0 ? { pid: `/proc/${pid}/ns/pid` } : {}),
    };
  }

  private async describe(c: Container): Promise<Sandbox> {
    const metadata = readMetadata(c);
    if (!metadata) throw new BerthError('Internal', `sandbox ${c.id} has no metadata`);
    const m = metadata.Metadata;
    let state: SandboxState = 'SANDBOX_NOTREADY';
    let pid = 0;
    if (m.Stopped) {
      // stopped: NOTREADY whatever is left
    } else if (m.Pause === false) {
      // held by files alone: ready while they hold them (a reboot takes the mounts)
      const files = [m.NetNSPath, m.Namespaces?.ipc, m.Namespaces?.uts].filter((f): f is string => !!f);
      if ((await Promise.all(files.map(holdsNamespace))).every(Boolean)) state = 'SANDBOX_READY';
    } else if (this.d.tasks.has(this.d.ns, c.id)) {
      const task = this.d.tasks.get(this.d.ns, c.id);
      const s = await task.state('').catch(() => undefined);
      if (s?.status === 'RUNNING') {
        state = 'SANDBOX_READY';
        pid = task.pid;
      }
    }
    return { meta: metadata.Metadata, record: c, state, createdAt: c.createdAt, pid };
  }

  /** Every sandbox record in the CRI's namespace. */
  private async records(): Promise<Container[]> {
    return this.d.containers.list(this.d.ns, [`labels."${kindLabel}"==sandbox`]);
  }

  /** A sandbox by its id or a unique prefix of it (as containerd's truncindex). */
  private async resolve(id: string): Promise<Container> {
    if (id === '') throw invalidArgument('a sandbox id is required');
    const matches = (await this.records()).filter((c) => c.id.startsWith(id));
    if (matches.length === 0) throw notFound(`sandbox ${id} not found`);
    if (matches.length > 1) throw invalidArgument(`sandbox id prefix ${id} is ambiguous`);
    return matches[0]!;
  }

  private async exclusive(id: string, fn: () => Promise<void>): Promise<void> {
    const before = this.busy.get(id) ?? Promise.resolve();
    const run = before.catch(() => undefined).then(fn);
    const tail = run.catch(() => undefined);
    this.busy.set(id, tail);
    try {
      await run;
    } finally {
      if (this.busy.get(id) === tail) this.busy.delete(id);
    }
  }

  /** SIGKILL to the pause (and everything in its cgroup), wait for it, delete the task. */
  private async killTask(id: string): Promise<void> {
    const { tasks, ns } = this.d;
    if (!tasks.has(ns, id)) return;
    const task = tasks.get(ns, id);
    const s = await task.state('').catch(() => undefined);
    if (s && s.status !== 'STOPPED' && s.status !== 'CREATED') {
      await task.kill('', 9, true).catch((err) => {
        if (!isCode(err, 'NotFound')) throw err;
      });
      await task.wait('');
    } else if (s?.status === 'CREATED') {
      await task.kill('', 9, false).catch(() => undefined);
    }
    await tasks.delete(ns, id).catch((err) => {
      if (!isCode(err, 'NotFound')) throw err;
    });
  }

  /** The runtime of a handler ('' is containerd.default_runtime_name). */
  private runtime(handler: string) {
    const { containerd } = this.d.config;
    const name = handler || containerd.defaultRuntimeName;
    const r = containerd.runtimes[name];
    if (!r) throw invalidArgument(`no runtime for "${name}" is configured`);
    const options = r.runtimeType === 'io.containerd.runc.v2' ? packAny(runcOptionsType, runcOptionsOf(r)) : null;
    return { name: r.runtimeType, options, podAnnotations: r.podAnnotations };
  }

  /** The sandbox image, pulled if it is not there; unpacked if its snapshot is missing and a pause is to run from it. */
  private async sandboxImage(unpacked: boolean): Promise<{ name: string; chainId: string; config: ImageConfig }> {
    const { d } = this;
    const ref = d.config.sandboxImage;
    let found = await d.images.find(ref);
    if (!found) {
      await d.images.pull(ref, null);
      found = await d.images.find(ref);
      if (!found) throw new BerthError('Internal', `the sandbox image ${ref} is not there after its pull`);
    }
    const name = unpacked ? await d.images.ensureUnpacked(found, ref) : d.images.recordName(found, ref);
    return { name, chainId: found.chainId, config: (found.config.config ?? {}) as ImageConfig };
  }

  /** The pod's /dev/shm: a tmpfs of 64 MiB (containerd's defaultShmSize) in its state dir. */
  private async mountShm(id: string): Promise<string> {
    const shm = join(this.d.stateDir, id, 'shm');
    await fs.mkdir(shm, { recursive: true, mode: 0o700 });
    await mountAll([{ type: 'tmpfs', source: 'shm', options: ['nosuid', 'nodev', 'noexec', 'mode=1777', 'size=65536k'] }], shm);
    return shm;
  }

  /** Releases the namespaces held in the pod's state dir and its /dev/shm, then removes the dir. */
  private async removeStateDir(id: string, held: { ipc?: string; uts?: string }): Promise<void> {
    const dir = join(this.d.stateDir, id);
    for (const file of [held.ipc, held.uts]) if (file) removeNamespace(file);
    await unmountAll(join(dir, 'shm'));
    await fs.rm(dir, { recursive: true, force: true });
  }

  /** hostname, hosts (the node's) and resolv.conf (the pod's DNSConfig, else the node's) in the sandbox's dir. */
  private async writeFiles(
    dir: string,
    config: PodSandboxConfig__Output,
    host: boolean,
  ): Promise<{ hostname?: string; hosts: string; resolvConf: string; shm?: string }> {
    const hosts = join(dir, 'hosts');
    const resolvConf = join(dir, 'resolv.conf');
    await fs.writeFile(hosts, await fs.readFile(this.d.hostHosts ?? '/etc/hosts').catch(() => ''), { mode: 0o644 });
    const dns = config.dns_config;
    const resolvText = dns ? podResolvConf(dns) : await fs.readFile(this.d.hostResolvConf ?? '/etc/resolv.conf', 'utf8').catch(() => '');
    await fs.writeFile(resolvConf, resolvText, { mode: 0o644 });
    if (host || !config.hostname) return { hosts, resolvConf };
    const hostname = join(dir, 'hostname');
    await fs.writeFile(hostname, `${config.hostname}\n`, { mode: 0o644 });
    return { hostname, hosts, resolvConf };
  }
}

/** Whether a namespace is bound on the file: a mount there has another device than its directory. */
async function holdsNamespace(file: string): Promise<boolean> {
  try {
    const [f, dir] = await Promise.all([fs.stat(file), fs.stat(dirname(file))]);
    return f.dev !== dir.dev;
  } catch {
    return false;
  }
}

export function readMetadata(c: Container): SandboxMetadata | undefined {
  const ext = c.extensions[metadataExtension];
  if (!ext) return undefined;
  try {
    return JSON.parse(ext.value.toString('utf8')) as SandboxMetadata;
  } catch {
    return undefined;
  }
}

function metadataAny(m: SandboxMetadata) {
  return { typeUrl: metadataType, value: Buffer.from(JSON.stringify(m)) };
}

function specAny(spec: SandboxSpec) {
  return { type_url: specTypeUrl, value: Buffer.from(JSON.stringify(spec)) };
}

/** berthd's own oom_score_adj (restrict_oom_score_adj clamps the sandbox's to it). */
export function ownOomScoreAdj(): number {
  try {
    return Number.parseInt(readFileSync('/proc/self/oom_score_adj', 'utf8').trim(), 10) || 0;
  } catch {
    return 0;
  }
}
