// Which OCI runtime binary berth drives (runc, crun, ...), its version, and warnings when
// that version predates the fix of a known container-escape vulnerability.
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { failedPrecondition, notFound } from '../../core/errors.ts';
import { findExecutable, isExecutable, systemBinDirs } from '../../core/exec-path.ts';

export interface OciRuntimeInfo {
  /** the absolute path of the binary */
  path: string;
  /** 'runc', 'crun', or whatever the binary calls itself in its --version output */
  name: 'runc' | 'crun' | string;
  /** the version as printed (e.g. '1.1.5+ds1'); '' when the output has none */
  version: string;
  warnings: string[];
}

/** A release version: [major, minor, patch], and the rc number of a pre-release (undefined for a release). */
interface Version {
  core: [number, number, number];
  rc?: number;
  build: string;
}

/** Parses '1.1.5', '1.1.5+ds1', '1.4.0-rc.3', '1.0.0-rc93', '1.8.1.0.1-abc'. */
export function parseVersion(text: string): Version | undefined {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?(?:[.\d]*)(?:-rc\.?(\d+))?([-+~].*)?$/.exec(text);
  if (!m) return undefined;
  return { core: [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)], rc: m[4] === undefined ? undefined : Number(m[4]), build: m[5] ?? '' };
}

/** <0, 0, >0 as a is older than, the same as, newer than b (a pre-release is older than its release). */
export function compareVersions(a: Version, b: Version): number {
  for (let i = 0; i < 3; i++) if (a.core[i] !== b.core[i]) return a.core[i] - b.core[i];
  if (a.rc === b.rc) return 0;
  if (a.rc === undefined) return 1;
  if (b.rc === undefined) return -1;
  return a.rc - b.rc;
}

const v = (s: string) => parseVersion(s)!;
const older = (a: Version, b: string) => compareVersions(a, v(b)) < 0;

/** The warnings for a runtime version (name as reported by --version). */
export function vulnerabilityWarnings(name: string, version: string): string[] {
  const ver = parseVersion(version);
  if (!ver) return [];
  const warnings: string[] = [];
  // A distribution build (1.1.5+ds1) may carry backported fixes its version does not show.
  const note = ver.build.startsWith('+') ? ` (unless the ${version} build carries a backported fix)` : '';
  if (name === 'runc') {
    if (older(ver, '1.1.12')) {
      warnings.push(`runc ${version} is older than 1.1.12: vulnerable to CVE-2024-21626 (container escape through a leaked file descriptor)${note}`);
    }
    // Fixed in 1.2.8, 1.3.3 and 1.4.0-rc.3; the 1.0 and 1.1 lines got no fix.
    const [major, minor] = ver.core;
    const fixedIn = major !== 1 || minor > 4 ? undefined : minor <= 2 ? '1.2.8' : minor === 3 ? '1.3.3' : '1.4.0-rc.3';
    if (fixedIn && older(ver, fixedIn)) {
      warnings.push(
        `runc ${version} is older than ${fixedIn}: vulnerable to CVE-2025-31133, CVE-2025-52565 and CVE-2025-52881 ` +
          `(container escape through races on masked paths, /dev/console and /proc writes)${note}`,
      );
    }
  } else if (name === 'crun') {
    if (older(ver, '1.4.4')) {
      warnings.push(`crun ${version} is older than 1.4.4: vulnerable to CVE-2022-27650 (containers start with inheritable capabilities)${note}`);
    }
  }
  return warnings;
}

/** Reads `<name> version <version>` from the first lines of --version output. */
export function parseVersionOutput(output: string): { name: string; version: string } {
  for (const line of output.split('\n')) {
    const m = /^\s*(\S+)\s+version\s+(\S+)/i.exec(line);
    if (m) return { name: m[1].toLowerCase(), version: m[2] };
  }
  const first = output.trim().split(/\s+/)[0] ?? '';
  return { name: first.toLowerCase(), version: '' };
}

/**
 * `binary` as an absolute path: as given when it has a slash, otherwise looked up in the system's
 * binary directories, as the shim that runs it looks it up.
 */
export function resolveBinary(binary: string): string {
  if (binary.includes('/')) {
    const p = resolve(binary);
    if (!isExecutable(p)) throw notFound(`OCI runtime ${p} is not an executable`);
    return p;
  }
  const found = findExecutable(binary, systemBinDirs);
  if (found === undefined) throw notFound(`OCI runtime ${JSON.stringify(binary)} not found in ${systemBinDirs.join(':')}`);
  return found;
}

/** Runs `<binary> --version` and reports the runtime, its version and vulnerability warnings. */
export async function inspectOciRuntime(binary: string): Promise<OciRuntimeInfo> {
  const path = resolveBinary(binary);
  const output = await new Promise<string>((res, rej) => {
    execFile(path, ['--version'], { timeout: 10_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) rej(failedPrecondition(`${path} --version: ${stderr.trim() || err.message}`));
      else res(stdout);
    });
  });
  const { name, version } = parseVersionOutput(output);
  return { path, name, version, warnings: vulnerabilityWarnings(name, version) };
}
