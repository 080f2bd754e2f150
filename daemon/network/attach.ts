import { createSocket } from 'node:dgram';
import { promises as fs, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import { BerthError, failedPrecondition, invalidArgument } from '../../core/errors.ts';
import { formatPort, type NetworkRequest, networkRequestOf } from '../../core/spec/network.ts';
import type { Spec } from '../../core/spec/types.ts';
import type { Logger } from '../log.ts';
import type { TaskHooks } from '../runtime/hooks.ts';
import type { ContainerForTask } from '../runtime/manager.ts';
import { type AttachedNetwork, addNetworks, delNetworks } from './cni/sandbox.ts';
import type { AttachmentLookup, CniOps, ContainerNetworking, NetworkLookup, PortMapping } from './cni/types.ts';
import { defaultHostname, hostHostsFile, hostsFile, resolvConf } from './host-files.ts';

/** How network namespace files are made and removed (the native addon's createNetns/removeNamespace). */
export interface NetnsOps {
  create(path: string): void | Promise<void>;
  remove(path: string): void | Promise<void>;
}

export interface AttacherSettings {
  /** `<state>/net`: a container's netns and files go to `<dir>/<namespace>/<id>/` */
  dir: string;
  networks: NetworkLookup;
  cni: CniOps;
  netns: NetnsOps;
  log: Logger;
  /** the host's files (tests point them elsewhere) */
  hostResolvConf?: string;
  hostHosts?: string;
  /** whether a host process holds a port (default: try to bind it for a moment) */
  hostPortFree?: (p: PortMapping) => Promise<boolean>;
}

/** attachment.json: what a restarted berthd needs to undo a container's networking. */
interface AttachmentRecord {
  namespace: string;
  container: string;
  mode: NetworkRequest['mode'];
  /** the CNI container id */
  cniId: string;
  netns?: string;
  networks: AttachedNetwork[];
  ports: PortMapping[];
}

/**
 * Networking for tasks: for a container labelled `io.berth/network`, before its task is created,
 * a network namespace with CNI ADD for each of its networks, and /etc/hosts, /etc/hostname and
 * /etc/resolv.conf, all under `<dir>/<namespace>/<id>/`; the spec handed to the runtime joins
 * that namespace and mounts those files. When the task goes, CNI DEL and everything removed.
 * attachment.json in that dir records what ADD used, so that DEL after a restart does the same.
 */
export class Attacher implements TaskHooks, AttachmentLookup {
  /** every attachment on disk, by "namespace/id" (including one whose release failed) */
  private readonly attachments = new Map<string, AttachmentRecord>();

  constructor(private readonly s: AttacherSettings) {}

  private key = (ns: string, id: string) => `${ns}/${id}`;
  private dirOf = (ns: string, id: string) => join(this.s.dir, ns, id);

  /** Reads every attachment.json (their ports stay reserved); a dir without one is kept for the sweep. */
  async load(): Promise<void> {
    for (const ns of await readdirOrEmpty(this.s.dir)) {
      for (const id of await readdirOrEmpty(join(this.s.dir, ns))) {
        const dir = this.dirOf(ns, id);
        const record = await readRecord(dir).catch((err: Error) => {
          this.s.log.warn('cannot read a container attachment', { dir, error: err.message });
          return undefined;
        });
        this.attachments.set(this.key(ns, id), record ?? { namespace: ns, container: id, mode: 'none', cniId: cniIdOf(ns, id), networks: [], ports: [] });
      }
    }
  }

  held(): Array<{ namespace: string; id: string }> {
    return [...this.attachments.values()].map((r) => ({ namespace: r.namespace, id: r.container }));
  }

  get(ns: string, id: string): ContainerNetworking | undefined {
    const r = this.attachments.get(this.key(ns, id));
    if (!r) return undefined;
    const networks = r.networks.map((n) => {
      const ips = (n.result?.ips ?? []).map((ip) => ip.address);
      const mac = n.result?.interfaces?.find((i) => i.name === n.ifName && i.sandbox)?.mac;
      const gateway = n.result?.ips?.find((ip) => ip.gateway)?.gateway;
      return { name: n.name, ifName: n.ifName, ips, ...(mac ? { mac } : {}), ...(gateway ? { gateway } : {}) };
    });
    return { namespace: ns, container: id, networks, ports: r.ports };
  }

  usersOf(network: string): string[] {
    return [...this.attachments.values()].filter((r) => r.networks.some((n) => n.name === network)).map((r) => this.key(r.namespace, r.container));
  }

  async prepare(ns: string, container: ContainerForTask): Promise<Uint8Array | undefined> {
    let request: NetworkRequest | undefined;
    try {
      request = networkRequestOf(container.labels);
    } catch (err) {
      throw invalidArgument(`container ${container.id}: ${(err as Error).message}`);
    }
    if (!request) return undefined;
    const key = this.key(ns, container.id);
    if (this.attachments.has(key)) {
      // an earlier task's networking whose release failed: try again before anything new
      await this.released(ns, container.id);
      if (this.attachments.has(key)) {
        throw failedPrecondition(`the networking of an earlier task of container ${container.id} could not be removed (see berthd's log)`);
      }
    }
    const spec = JSON.parse(Buffer.from(container.spec.value).toString('utf8')) as Spec;
    const record: AttachmentRecord = {
      namespace: ns,
      container: container.id,
      mode: request.mode,
      cniId: cniIdOf(ns, container.id),
      networks: [],
      ports: request.ports,
    };
    // reserved from here (synchronously after the check): a concurrent prepare sees these ports
    this.checkPublished(record);
    this.attachments.set(key, record);
    const dir = this.dirOf(ns, container.id);
    try {
      await this.checkHostPorts(request.ports);
      mkdirSync(dir, { recursive: true, mode: 0o755 });
      let address: string | undefined;
      if (request.mode === 'bridge') address = await this.attach(dir, record, request, spec, container.id);
      this.writeFiles(dir, request, spec, container.id, address);
      return Buffer.from(JSON.stringify(spec));
    } catch (err) {
      await this.released(ns, container.id);
      if (err instanceof BerthError) throw err;
      throw new BerthError('Internal', `cannot set up the network of container ${container.id}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** The netns and CNI ADD for each network; returns the container's address on the first one. */
  private async attach(dir: string, record: AttachmentRecord, request: NetworkRequest, spec: Spec, id: string): Promise<string | undefined> {
    const netnsEntry = spec.linux?.namespaces?.find((n) => n.type === 'network');
    if (!netnsEntry) throw invalidArgument(`container ${id} shares the host's network namespace: it cannot join network ${request.networks[0]}`);
    const networks = await Promise.all(request.networks.map((name) => this.s.networks.get(name)));
    const netns = join(dir, 'netns');
    await this.s.netns.create(netns);
    record.netns = netns;
    const planned = networks.map((network, i): AttachedNetwork => {
      const n: AttachedNetwork = { name: network.name, list: network.list, ifName: `eth${i}` };
      if (i === 0 && request.ip) n.args = [['IP', request.ip]];
      if (i === 0 && request.ports.length > 0) n.capabilityArgs = { portMappings: request.ports };
      return n;
    });
    await writeRecord(dir, record);
    await addNetworks(
      this.s.cni,
      { containerId: record.cniId, netns },
      planned,
      record.networks,
      () => writeRecord(dir, record),
      (n, err) => {
        const code = err instanceof BerthError ? err.code : 'Internal';
        return new BerthError(code, `cannot attach container ${id} to network ${n.name}: ${(err as Error).message}`, { cause: err });
      },
    );
    netnsEntry.path = netns;
    return record.networks[0]?.result?.ips?.[0]?.address.split('/')[0];
  }

  /**
   * hosts, hostname and resolv.conf in `dir`, bind-mounted read-only where the spec mounts nothing.
   * Small files, read and written synchronously: on the path of every run, each asynchronous call
   * would wait its turn in libuv's thread pool (a dozen of them took 1.5-3 ms).
   */
  private writeFiles(dir: string, request: NetworkRequest, spec: Spec, id: string, address: string | undefined): void {
    const hostMode = request.mode === 'host';
    if (hostMode && spec.linux?.namespaces) spec.linux.namespaces = spec.linux.namespaces.filter((n) => n.type !== 'network');
    // a hostname of its own needs a UTS namespace of its own (runc refuses one without)
    else if (spec.linux?.namespaces?.some((n) => n.type === 'uts' && !n.path)) spec.hostname ||= defaultHostname(id);
    const hostname = spec.hostname || osHostname();
    const hostResolv = readOr(this.s.hostResolvConf ?? '/etc/resolv.conf', '');
    const hosts = hostMode ? hostHostsFile(readOr(this.s.hostHosts ?? '/etc/hosts', ''), request.extraHosts) : hostsFile(hostname, address, request.extraHosts);
    const files: Array<[string, string]> = [
      ['hosts', hosts],
      ['hostname', `${hostname}\n`],
      ['resolv.conf', resolvConf(hostResolv, request, hostMode)],
    ];
    spec.mounts ??= [];
    for (const [name, text] of files) {
      const path = join(dir, name);
      writeFileSync(path, text, { mode: 0o644 });
      const destination = `/etc/${name}`;
      if (spec.mounts.some((m) => m.destination.replace(/\/+$/, '') === destination)) continue;
      spec.mounts.push({ destination, type: 'bind', source: path, options: ['rbind', 'ro'] });
    }
  }

  /** A port another live attachment publishes already is FailedPrecondition naming it. */
  private checkPublished(record: AttachmentRecord): void {
    for (const p of record.ports) {
      for (const other of this.attachments.values()) {
        const clash = other.ports.find((q) => q.hostPort === p.hostPort && q.protocol === p.protocol && (!q.hostIP || !p.hostIP || q.hostIP === p.hostIP));
        if (clash)
          throw failedPrecondition(
            `host port ${formatPort(clash).split('->')[0]}/${clash.protocol} is already published by container ${other.namespace}/${other.container}`,
          );
      }
    }
  }

  /** A port a host process holds (found by binding it for a moment) is FailedPrecondition. */
  private async checkHostPorts(ports: PortMapping[]): Promise<void> {
    for (const p of ports) {
      const free = await (this.s.hostPortFree ?? hostPortFree)(p);
      if (!free) throw failedPrecondition(`host port ${p.hostIP ?? '0.0.0.0'}:${p.hostPort}/${p.protocol} is in use by a process on the host`);
    }
  }

  /**
   * DEL for each network in reverse, then the netns and the dir go. A DEL that fails is logged
   * and everything is kept: the next start-up (or the container's next task) tries again.
   */
  async released(ns: string, id: string): Promise<void> {
    const key = this.key(ns, id);
    const record = this.attachments.get(key);
    if (!record) return;
    const dir = this.dirOf(ns, id);
    const netns = record.netns && (await exists(record.netns)) ? record.netns : '';
    const failed = await delNetworks(this.s.cni, { containerId: record.cniId, netns }, record.networks, this.s.log);
    for (const f of failed) {
      this.s.log.warn('CNI DEL failed; will try again at the next start', { namespace: ns, id, network: f.network.name, error: f.error.message });
    }
    if (failed.length > 0) return;
    try {
      // (a daemon killed between making the netns and writing attachment.json leaves it unrecorded)
      await this.s.netns.remove(record.netns ?? join(dir, 'netns'));
      await fs.rm(dir, { recursive: true, force: true });
    } catch (err) {
      this.s.log.warn('cannot remove a container network namespace', { namespace: ns, id, error: (err as Error).message });
      return;
    }
    this.attachments.delete(key);
    await fs.rmdir(join(this.s.dir, ns)).catch(() => undefined);
  }
}

/** The CNI container id, as nerdctl makes it: `<namespace>-<id>`. */
function cniIdOf(ns: string, id: string): string {
  return `${ns}-${id}`;
}

async function writeRecord(dir: string, record: AttachmentRecord): Promise<void> {
  const tmp = join(dir, 'attachment.json.tmp');
  await fs.writeFile(tmp, JSON.stringify(record), { mode: 0o600 });
  await fs.rename(tmp, join(dir, 'attachment.json'));
}

async function readRecord(dir: string): Promise<AttachmentRecord | undefined> {
  try {
    return JSON.parse(await fs.readFile(join(dir, 'attachment.json'), 'utf8')) as AttachmentRecord;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  return fs.readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw err;
  });
}

async function exists(path: string): Promise<boolean> {
  return fs.stat(path).then(
    () => true,
    () => false,
  );
}

/** Whether a host port can be bound now (nothing on the host listens on it). */
export function hostPortFree(p: PortMapping): Promise<boolean> {
  const host = p.hostIP ?? '0.0.0.0';
  return new Promise((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE' || err.code === 'EACCES') resolve(false);
      else if (err.code === 'EADDRNOTAVAIL') reject(invalidArgument(`host IP ${host} is not an address of this host`));
      else reject(err);
    };
    if (p.protocol === 'udp') {
      const socket = createSocket('udp4');
      socket.once('error', (err) => {
        socket.close();
        failed(err);
      });
      socket.bind({ address: host, port: p.hostPort, exclusive: true }, () => socket.close(() => resolve(true)));
      return;
    }
    const server = createServer();
    server.once('error', failed);
    server.listen({ host, port: p.hostPort, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** A small file's text, or `otherwise` when it cannot be read. */
function readOr(path: string, otherwise: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return otherwise;
  }
}
