import { rmSync } from 'node:fs';
import { Socket } from 'node:net';
import { MNT_DETACH, native, type PathLike, umount2 } from './index.ts';

/**
 * Network namespaces kept alive by a bind mount on a file (as `ip netns add` and containerd do),
 * so that one outlives the processes in it and can be handed to runc and to CNI plugins by path.
 */

/**
 * Creates the file `path` (mode 0444; an existing file is EEXIST) and binds a new network
 * namespace onto it, its loopback interface up (as CNI's loopback plugin leaves it). The namespace is made on a short-lived thread of the addon's, so the calling
 * process's threads stay in their own namespace. On failure nothing is left at `path`.
 * @throws Node-style errors: EEXIST, ENOENT (a missing parent), EPERM (not root)...
 */
export function createNetns(path: PathLike): void {
  native().createNetns(path);
}

/**
 * Unmounts the namespace from `path` (lazily: a process still inside keeps it until it leaves)
 * and removes the file. A path that is already gone, or not a mount, is not an error.
 */
export function removeNetns(path: string): void {
  try {
    umount2(path, MNT_DETACH);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'ENOENT') throw err;
  }
  rmSync(path, { force: true });
}

/**
 * A TCP connection to 127.0.0.1:`port` inside the network namespace at `path` (a pod's, for
 * port forwarding): berthd's threads stay in their own namespace, the socket is made by a thread
 * of the addon's that enters the pod's. Half-close is allowed (each direction ends on its own).
 * @throws Node-style errors: ENOENT, EINVAL (not a network namespace), ECONNREFUSED, ETIMEDOUT (10 s)
 */
export async function connectInNetns(path: PathLike, port: number): Promise<Socket> {
  const fd = await native().connectInNetns(path, port);
  return new Socket({ fd, readable: true, writable: true, allowHalfOpen: true });
}
