import type { Logger } from '../../log.ts';
import type { CniAttachment, CniOps, CniResult, NetworkConfigList } from './types.ts';

/**
 * The CNI steps every network namespace berthd makes goes through, a berth container's (the task
 * attacher) or a pod's (the CRI): loopback first, then each network ADDed as its interface, and on
 * the way out each DEL in reverse. The callers keep the record of what ran (attachment.json, the
 * sandbox's metadata) and make and remove the netns file itself.
 */

/** One network of a namespace, with exactly what its ADD used: its DEL uses the same. */
export interface AttachedNetwork {
  name: string;
  list: NetworkConfigList;
  ifName: string;
  args?: Array<[string, string]>;
  capabilityArgs?: CniAttachment['capabilityArgs'];
  /** absent while its ADD runs (a daemon that dies then leaves it so: its DEL runs without) */
  result?: CniResult;
}

const loopbackList: NetworkConfigList = { cniVersion: '1.0.0', name: 'cni-loopback', plugins: [{ type: 'loopback' }] };

/**
 * ADDs each network in order into `netns` (whose lo createNetns brought up already; with
 * `loopbackPlugin` CNI's loopback plugin is run on it first, as containerd's CRI does by default). Each is pushed on `attached`
 * and `save` awaited before its ADD runs and again with its result, so that a daemon that dies in
 * between still knows to DEL it. `describe` turns a failed ADD's error into the caller's.
 */
export async function addNetworks(
  cni: CniOps,
  at: { containerId: string; netns: string },
  networks: AttachedNetwork[],
  attached: AttachedNetwork[],
  save: () => Promise<void>,
  describe: (network: AttachedNetwork, err: unknown) => Error = (_, err) => err as Error,
  loopbackPlugin = false,
): Promise<void> {
  if (loopbackPlugin) await cni.add(loopbackList, { ...at, ifName: 'lo' });
  for (const n of networks) {
    attached.push(n);
    await save();
    try {
      n.result = await cni.add(n.list, { ...at, ifName: n.ifName, args: n.args, capabilityArgs: n.capabilityArgs });
    } catch (err) {
      throw describe(n, err);
    }
    await save();
  }
}

/**
 * DEL of each network in reverse, each tried up to three times (DEL is idempotent, and a plugin's
 * iptables change can fail for a moment while other programs change the rule set). `netns` is ''
 * when the file is gone: plugins then clean up what is outside it. Loopback gets no DEL: it holds
 * nothing outside the namespace, and goes with it. Every network is tried; those whose DEL failed
 * are returned.
 */
export async function delNetworks(
  cni: CniOps,
  at: { containerId: string; netns: string },
  attached: readonly AttachedNetwork[],
  log: Logger,
): Promise<Array<{ network: AttachedNetwork; error: Error }>> {
  const failed: Array<{ network: AttachedNetwork; error: Error }> = [];
  for (const n of [...attached].reverse()) {
    for (let attempt = 1; ; attempt++) {
      try {
        await cni.del(n.list, { ...at, ifName: n.ifName, args: n.args, capabilityArgs: n.capabilityArgs }, n.result);
        break;
      } catch (err) {
        if (attempt >= 3) {
          failed.push({ network: n, error: err as Error });
          break;
        }
        log.debug('CNI DEL failed; trying again', { network: n.name, container: at.containerId, error: (err as Error).message });
        await new Promise((r) => setTimeout(r, 200 * attempt));
      }
    }
  }
  return failed;
}
