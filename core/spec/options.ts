import type { SpecOptions, SpecOptions__Output } from '../../api/gen/berth/services/run/v1/SpecOptions.ts';
import { normalizeCapabilities } from './caps.ts';
import type { SpecFlags } from './spec.ts';

/**
 * SpecFlags on the wire (berth.services.run.v1.SpecOptions): the CLI sends what its flags ask
 * for, berthd builds the spec from it. Zero means unset, as in the message.
 */

export function specOptionsOf(f: SpecFlags): SpecOptions {
  return {
    args: f.args ?? [],
    env: f.env ?? [],
    env_file: f.envFile ?? [],
    cwd: f.cwd ?? '',
    user: f.user ?? '',
    mounts: (f.mounts ?? []).map((m) => ({ destination: m.destination, type: m.type ?? '', source: m.source ?? '', options: m.options ?? [] })),
    tty: Boolean(f.tty),
    console_width: f.consoleSize?.width ?? 0,
    console_height: f.consoleSize?.height ?? 0,
    net_host: Boolean(f.netHost),
    hostname: f.hostname ?? '',
    memory_limit: f.memoryLimit ?? 0,
    cpus: f.cpus ?? 0,
    cpu_shares: f.cpuShares ?? 0,
    pids_limit: f.pidsLimit ?? 0,
    read_only: Boolean(f.readOnly),
    privileged: Boolean(f.privileged),
    cap_add: f.capAdd ?? [],
    cap_drop: f.capDrop ?? [],
    spec_labels: f.labels ?? {},
    annotations: f.annotations ?? {},
    seccomp_unconfined: f.seccomp === 'unconfined',
    seccomp_profile: typeof f.seccomp === 'object' ? f.seccomp.profile : '',
    seccomp_profile_source: typeof f.seccomp === 'object' ? f.seccomp.from : '',
  };
}

/** The flags a request asks for; throws an Error with a one-line message on a bad value. */
export function specFlagsOf(o: SpecOptions__Output | null): SpecFlags {
  if (!o) return {};
  const unset = <T>(v: T, zero: T) => (v === zero ? undefined : v);
  for (const m of o.mounts) {
    if (!m.destination.startsWith('/'))
      throw new Error(`invalid mount destination ${JSON.stringify(m.destination)}: it must be an absolute path in the container`);
  }
  if (o.seccomp_unconfined && o.seccomp_profile) throw new Error('a seccomp profile and seccomp_unconfined contradict each other');
  for (const [what, n] of [
    ['memory limit', o.memory_limit],
    ['cpus', o.cpus],
    ['cpu shares', o.cpu_shares],
    ['pids limit', o.pids_limit],
  ] as const) {
    if (!Number.isFinite(n) || n < 0) throw new Error(`invalid ${what} ${n}`);
  }
  return {
    args: o.args.length > 0 ? o.args : undefined,
    env: o.env,
    envFile: o.env_file.length > 0 ? o.env_file : undefined,
    cwd: unset(o.cwd, ''),
    user: unset(o.user, ''),
    mounts: o.mounts.map((m) => ({
      destination: m.destination,
      ...(m.type ? { type: m.type } : {}),
      ...(m.source ? { source: m.source } : {}),
      ...(m.options.length > 0 ? { options: m.options } : {}),
    })),
    tty: o.tty,
    consoleSize: o.tty && o.console_width > 0 && o.console_height > 0 ? { width: o.console_width, height: o.console_height } : undefined,
    netHost: o.net_host,
    hostname: unset(o.hostname, ''),
    memoryLimit: unset(Number(o.memory_limit), 0),
    cpus: unset(o.cpus, 0),
    cpuShares: unset(Number(o.cpu_shares), 0),
    pidsLimit: unset(Number(o.pids_limit), 0),
    readOnly: o.read_only,
    privileged: o.privileged,
    capAdd: normalizeCapabilities(o.cap_add),
    capDrop: normalizeCapabilities(o.cap_drop),
    labels: o.spec_labels,
    annotations: o.annotations,
    seccomp: o.seccomp_unconfined
      ? 'unconfined'
      : o.seccomp_profile
        ? { profile: o.seccomp_profile, from: o.seccomp_profile_source || 'the request' }
        : undefined,
  };
}
