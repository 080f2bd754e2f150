import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { groupAnnotation, stateEnv } from '../core/shim-contract.ts';

/** The daemon's state directory, shared with the shim through BERTH_STATE (stateEnv). */
export function stateDir(): string {
  return process.env[stateEnv] || '/run/berth';
}

/** The annotation-selected group a container's shim serves, or the container id itself. */
export function groupId(id: string, spec: { annotations?: Record<string, string> } | undefined): string {
  return spec?.annotations?.[groupAnnotation] || id;
}

/** `<state>/s/<hex(sha256(address/ns/group))>`: one socket per daemon, namespace and group. */
export function socketPath(state: string, daemonAddress: string, namespace: string, group: string): string {
  const sum = createHash('sha256').update(`${daemonAddress}/${namespace}/${group}`).digest('hex');
  return join(state, 's', sum);
}
