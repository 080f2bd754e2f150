import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { invalidArgument, notFound } from '../../core/errors.ts';
import { findExecutable, isExecutable } from '../../core/exec-path.ts';

/** berth's own bin/ folder (beside dist/), where berth-shim-runc-v2 lives in a checkout or an install. */
const packageBin = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin');

/**
 * The binaries a runtime name may run as, in the order they are tried: `io.containerd.runc.v2`
 * → `berth-shim-runc-v2`, then containerd's `containerd-shim-runc-v2`.
 */
export function shimBinaryNames(runtime: string): string[] {
  const parts = runtime.split('.');
  if (parts.length < 2 || parts.some((p) => p === '' || !/^[A-Za-z0-9_-]+$/.test(p))) {
    throw invalidArgument(`runtime name ${JSON.stringify(runtime)} is not of the form io.containerd.<name>.<version>`);
  }
  const [name, version] = parts.slice(-2);
  return [`berth-shim-${name}-${version}`, `containerd-shim-${name}-${version}`];
}

/**
 * Resolves a runtime name to a shim binary: an absolute path is used as is; a name configured
 * in `[plugins."io.containerd.runtime.v2.task".shims]` maps to its path; otherwise berth's own
 * bin/ folder, then PATH, are searched for the names of {@link shimBinaryNames}.
 */
export function resolveShimBinary(runtime: string, configured: Record<string, string> = {}, path = process.env.PATH ?? ''): string {
  if (configured[runtime]) return configured[runtime];
  if (isAbsolute(runtime)) {
    if (!isExecutable(runtime)) throw notFound(`runtime ${runtime}: no such executable`);
    return runtime;
  }
  const names = shimBinaryNames(runtime);
  const dirs = [packageBin, ...path.split(delimiter).filter(Boolean)];
  for (const name of names) {
    const found = findExecutable(name, dirs);
    if (found) return found;
  }
  throw notFound(`runtime "${runtime}" binary not installed "${names.join('" or "')}"`);
}
