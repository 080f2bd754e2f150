import { invalidArgument } from '../../core/errors.ts';
import type { NamespaceType } from '../../native/namespaces.ts';

/**
 * A pod's sysctls are written by berthd into the pod's namespaces (runc's rules say which
 * namespace holds which: the IPC ones, fs.mqueue.*, net.*, kernel.hostname and domainname; any
 * other would change the host and is refused, as runc refuses it).
 */

const ipcSysctls = new Set([
  'kernel.msgmax',
  'kernel.msgmnb',
  'kernel.msgmni',
  'kernel.sem',
  'kernel.shmall',
  'kernel.shmmax',
  'kernel.shmmni',
  'kernel.shm_rmid_forced',
]);

/** The namespace a sysctl belongs to (names with dots or slashes: net.ipv4.ip_forward, net/ipv4/conf/eth0.1/forwarding). */
export function sysctlNamespace(name: string): NamespaceType | undefined {
  const dotted = name.replaceAll('/', '.');
  if (ipcSysctls.has(dotted) || dotted.startsWith('fs.mqueue.')) return 'ipc';
  if (dotted.startsWith('net.')) return 'net';
  if (dotted === 'kernel.hostname' || dotted === 'kernel.domainname') return 'uts';
  return undefined;
}

/** The sysctl's file: dots are separators unless the name uses slashes (then dots belong to a segment, as in an interface name). */
export function sysctlFile(name: string): string {
  const segments = name.includes('/') ? name.split('/') : name.split('.');
  if (segments.some((s) => s === '' || s === '.' || s === '..' || !/^[A-Za-z0-9_.:-]+$/.test(s)))
    throw invalidArgument(`sysctl ${JSON.stringify(name)} is not a sysctl name`);
  return `/proc/sys/${segments.join('/')}`;
}

export interface PodSysctl {
  name: string;
  file: string;
  value: string;
  namespace: NamespaceType;
}

/**
 * Checks a pod's sysctls before anything is made: each must belong to a namespace the pod has of
 * its own (`own`), and its value must be one line.
 */
export function podSysctls(sysctls: Record<string, string>, own: Set<NamespaceType>): PodSysctl[] {
  return Object.entries(sysctls).map(([name, value]) => {
    const namespace = sysctlNamespace(name);
    if (!namespace) throw invalidArgument(`sysctl ${JSON.stringify(name)} is not in a separate kernel namespace`);
    if (!own.has(namespace)) throw invalidArgument(`sysctl ${JSON.stringify(name)} is not allowed: the pod shares the host's ${namespace} namespace`);
    if (/[\n\0]/.test(value)) throw invalidArgument(`sysctl ${JSON.stringify(name)}: the value must be one line`);
    return { name, file: sysctlFile(name), value, namespace };
  });
}
