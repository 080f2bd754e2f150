import { delimiter, isAbsolute } from 'node:path';
import { invalidArgument, notFound } from '../../core/errors.ts';
import { findExecutable, isExecutable } from '../../core/exec-path.ts';

/** The shim binary a runtime name runs as, containerd's rule: `io.containerd.runc.v2` → `containerd-shim-runc-v2`. */
export function shimBinaryName(runtime: string): string {
  const parts = runtime.split('.');
  if (parts.length < 2 || parts.some((p) => p === '' || !/^[A-Za-z0-9_-]+$/.test(p))) {
    throw invalidArgument(`runtime name ${JSON.stringify(runtime)} is not of the form io.containerd.<name>.<version>`);
  }
  const [name, version] = parts.slice(-2);
  return `containerd-shim-${name}-${version}`;
}

/**
 * Resolves a runtime name to a shim binary: a name configured in
 * `[plugins."io.containerd.runtime.v2.task".shims]` maps to its path; an absolute path is used as
 * is; otherwise PATH is searched for {@link shimBinaryName}.
 */
export function resolveShimBinary(runtime: string, configured: Record<string, string> = {}, path = process.env.PATH ?? ''): string {
  if (configured[runtime]) return configured[runtime];
  if (isAbsolute(runtime)) {
    if (!isExecutable(runtime)) throw notFound(`runtime ${runtime}: no such executable`);
    return runtime;
  }
  const name = shimBinaryName(runtime);
  const found = findExecutable(name, path.split(delimiter).filter(Boolean));
  if (!found) throw notFound(`runtime "${runtime}" binary not installed "${name}"`);
  return found;
}
