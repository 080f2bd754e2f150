import { createHash } from 'node:crypto';
import { join } from 'node:path';

/** The daemon's state directory, shared with the shim through BERTH_STATE. */
export function stateDir(): string {
  return process.env.BERTH_STATE || '/run/berth';
}

export const groupAnnotation = 'io.containerd.runc.v2.group';

/** The annotation-selected group a container's shim serves, or the container id itself. */
export function groupId(id: string, spec: { annotations?: Record<string, string> } | undefined): string {
  return spec?.annotations?.[groupAnnotation] || id;
}

/** `<state>/s/<hex(sha256(address/ns/group))>`: one socket per daemon, namespace and group. */
export function socketPath(state: string, daemonAddress: string, namespace: string, group: string): string {
  const sum = createHash('sha256').update(`${daemonAddress}/${namespace}/${group}`).digest('hex');
  return join(state, 's', sum);
}

// Files the shim keeps in a bundle.
export const bundleFiles = {
  address: 'address',
  /** the Any that `start` read on stdin, verbatim (absent when there was none) */
  runtimeOptions: 'runtime-options.pb',
  /** {binary_name, root} resolved at Create, for the `delete` subcommand */
  options: 'options.json',
  initPid: 'init.pid',
  runcLog: 'log.json',
  shimLog: 'shim.log',
} as const;
