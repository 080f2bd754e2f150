import { promises as fs } from 'node:fs';
import { isIPv4 } from 'node:net';
import type { PortMapping__Output } from '../../api/gen/runtime/v1/PortMapping.ts';
import { BerthError, failedPrecondition } from '../../core/errors.ts';
import type { Logger } from '../log.ts';
import type { NetnsOps } from '../network/attach.ts';
import { type AttachedNetwork, addNetworks, delNetworks } from '../network/cni/sandbox.ts';
import type { CniOps, CniResult, NetworkConfigList, PortMapping } from '../network/cni/types.ts';
import { loadConflists } from '../network/conflist.ts';

/** What a pod's CNI ADD used and answered: kept with the sandbox, so that DEL (also after a restart) does the same. */
export interface PodNetwork {
  netns: string;
  list: NetworkConfigList;
  args: Array<[string, string]>;
  portMappings: PortMapping[];
  /** absent while ADD runs */
  result?: CniResult;
}

/** The pod's network as the shared CNI steps see it (daemon/network/cni/sandbox.ts). */
const attachedOf = (n: PodNetwork): AttachedNetwork => ({
  name: n.list.name,
  list: n.list,
  ifName: podIfName,
  args: n.args,
  capabilityArgs: n.portMappings.length > 0 ? { portMappings: n.portMappings } : undefined,
  result: n.result,
});

export interface PodIdentity {
  id: string;
  name: string;
  namespace: string;
  uid: string;
}

const podIfName = 'eth0';

export interface PodNetworkingDeps {
  cni: CniOps;
  netns: NetnsOps;
  confDir: string;
  /** configs loaded from confDir, in name order; 0: all (berth uses the first) */
  maxConfNum: number;
  /** run CNI's loopback plugin on lo (false: lo is only brought up by createNetns) */
  loopbackPlugin: boolean;
  log: Logger;
}

/**
 * A pod's network as containerd 1.6's CRI makes it: a network namespace file, CNI ADD of the
 * loopback network and of the node's network (the first config in `cni.conf_dir` by file name)
 * as eth0, with the pod's names in CNI_ARGS and its hostPorts as portmap's `portMappings`.
 */
export class PodNetworking {
  constructor(private readonly deps: PodNetworkingDeps) {}

  /** The node's network: the first config list in conf_dir. */
  async nodeNetwork(): Promise<NetworkConfigList> {
    const lists = await loadConflists(this.deps.confDir, this.deps.log);
    const first = lists[0];
    if (!first) throw failedPrecondition(`no network config found in ${this.deps.confDir}: the network is not ready`);
    return first.list;
  }

  /**
   * The pod's network record, its netns made at `netns`: what a task can join while ADD runs
   * (add). Nothing is left when it fails.
   */
  async begin(pod: PodIdentity, netns: string, ports: PortMapping__Output[]): Promise<PodNetwork> {
    const list = await this.nodeNetwork();
    await this.deps.netns.create(netns);
    return {
      netns,
      list,
      args: [
        ['K8S_POD_NAMESPACE', pod.namespace],
        ['K8S_POD_NAME', pod.name],
        ['K8S_POD_INFRA_CONTAINER_ID', pod.id],
        ['K8S_POD_UID', pod.uid],
      ],
      portMappings: cniPortMappings(ports),
    };
  }

  /**
   * ADD into the netns begin made; `save` is called with the record before ADD runs and again
   * with its result, so that a daemon that dies in between can still DEL. On failure everything
   * made is undone (the netns too) and the error thrown.
   */
  async add(id: string, record: PodNetwork, save: (n: PodNetwork) => Promise<void>): Promise<PodNetwork> {
    try {
      await save(record);
      const attached: AttachedNetwork[] = [];
      const saveResult = async () => {
        record.result = attached[0]?.result;
        await save(record);
      };
      await addNetworks(
        this.deps.cni,
        { containerId: id, netns: record.netns },
        [attachedOf(record)],
        attached,
        saveResult,
        undefined,
        this.deps.loopbackPlugin,
      );
      return record;
    } catch (err) {
      // the pod is not made: its netns goes even when a DEL fails (a plugin that failed ADD often fails DEL too)
      await this.tearDown(id, record, { evenIfDelFails: true }).catch((e: Error) => this.deps.log.warn('cannot undo a pod network', { id, error: e.message }));
      if (err instanceof BerthError) throw err;
      throw new BerthError('Internal', `cannot set up the network of pod ${id}: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * DEL (the portmap rules, the veth, the address lease), then the netns goes. Throws when DEL
   * fails, the netns kept so that DEL can run again later (unless evenIfDelFails).
   */
  async tearDown(id: string, n: PodNetwork, opts: { evenIfDelFails?: boolean } = {}): Promise<void> {
    const present = await exists(n.netns);
    const failed = await delNetworks(this.deps.cni, { containerId: id, netns: present ? n.netns : '' }, [attachedOf(n)], this.deps.log);
    if (failed[0] && !opts.evenIfDelFails) throw failed[0].error;
    await this.deps.netns.remove(n.netns);
    if (failed[0]) throw failed[0].error;
  }
}

/** The pod's IPs from an ADD result: eth0's, IPv4 first (containerd's selectPodIPs). */
export function podIps(result: CniResult | undefined): string[] {
  const ifIndex = (result?.interfaces ?? []).findIndex((i) => i.name === podIfName && i.sandbox);
  const ips = (result?.ips ?? []).filter((ip) => ifIndex < 0 || ip.interface === undefined || ip.interface === ifIndex).map((ip) => ip.address.split('/')[0]!);
  return [...ips.filter((ip) => isIPv4(ip)), ...ips.filter((ip) => !isIPv4(ip))];
}

/** Only mappings with a host port, the protocol lower-cased (containerd's toCNIPortMappings). */
export function cniPortMappings(ports: PortMapping__Output[]): PortMapping[] {
  return ports
    .filter((p) => p.host_port > 0)
    .map((p) => ({
      hostPort: p.host_port,
      containerPort: p.container_port,
      protocol: String(p.protocol).toLowerCase() as PortMapping['protocol'],
      ...(p.host_ip ? { hostIP: p.host_ip } : {}),
    }));
}

async function exists(path: string): Promise<boolean> {
  return fs.stat(path).then(
    () => true,
    () => false,
  );
}
