// `berth-shim-runc-v2 ... -bundle B delete`: clean up after a shim that died — force-delete the
// container in runc, unmount its rootfs, and tell the daemon how it ended (137, like runc's
// shim) as a protobuf-encoded containerd.task.v2.DeleteResponse on stdout.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { codec } from '../api/codec.ts';
import { toTimestamp } from '../api/timestamp.ts';
import { type RuntimeOptions, runtimeFor } from '../core/runc/runc.ts';
import { bundleFiles } from '../core/shim-contract.ts';
import type { ShimArgs } from './args.ts';
import { stateDir } from './paths.ts';

export async function deleteCommand(args: ShimArgs): Promise<Buffer> {
  if (!args.namespace || !args.id) throw new Error('delete needs -namespace and -id');
  const bundle = args.bundle || process.cwd();
  let options: RuntimeOptions = {};
  try {
    options = JSON.parse(readFileSync(join(bundle, bundleFiles.options), 'utf8')) as RuntimeOptions;
  } catch {
    // Create never got that far: defaults
  }
  let pid = 0;
  try {
    pid = Number.parseInt(readFileSync(join(bundle, bundleFiles.initPid), 'utf8'), 10) || 0;
  } catch {
    // no init was created
  }
  const runc = runtimeFor(options, args.namespace, bundle, stateDir());
  try {
    await runc.delete(args.id, true);
  } catch (err) {
    // the container may be gone already; what matters is that it is gone
    process.stderr.write(`berth-shim-runc-v2: ${(err as Error).message}\n`);
  }
  const { unmountAll } = await import('../native/mount.ts');
  await unmountAll(join(bundle, 'rootfs'));
  return deleteResponse(pid, 137, Date.now());
}

/** containerd.task.v2.DeleteResponse, protobuf-encoded as `delete` prints it. */
export function deleteResponse(pid: number, exitStatus: number, exitedAtMs: number): Buffer {
  const type = codec('containerd.task.v2.DeleteResponse');
  return Buffer.from(type.encode(type.fromObject({ pid, exit_status: exitStatus, exited_at: toTimestamp(exitedAtMs) })).finish());
}
