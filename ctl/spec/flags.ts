import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { normalizeCapabilities } from '../../core/spec/caps.ts';
import { defaultRuntime } from '../../core/spec/names.ts';
import type { SpecFlags } from '../../core/spec/spec.ts';
import type { SpecMount } from '../../core/spec/types.ts';
import { addFlags, type Flag, InvalidFlagValue } from '../flags.ts';

/**
 * The container flags `berth run` and `berth containers create` share (ctr's ContainerFlags
 * plus the runc ones), and their translation into SpecFlags. Nothing heavy is imported here
 * (not commander either: the fast path of `berth run` parses these flags without it).
 */

/** Where ctr-style stdio FIFOs go unless --fifo-dir or BERTH_FIFO_DIR says otherwise. */
export const defaultFifoDir = '/run/berth/fifo';

/** The flags that reach SpecFlags as commander gives them; the others are parsed on the way. */
type SpecFlagsAsGiven = Pick<
  SpecFlags,
  'tty' | 'cwd' | 'user' | 'netHost' | 'hostname' | 'memoryLimit' | 'cpus' | 'cpuShares' | 'pidsLimit' | 'readOnly' | 'privileged'
>;

export interface ContainerFlags extends SpecFlagsAsGiven {
  env: string[];
  envFile?: string;
  mount: string[];
  /** Docker's -v HOST:CONTAINER[:ro] */
  volume?: string[];
  /** Docker's -m/--memory: the same limit as memoryLimit, in bytes */
  memory?: number;
  capAdd: string[];
  capDrop: string[];
  seccompProfile?: string;
  securityOpt: string[];
  label: string[];
  annotation: string[];
  runtime: string;
  runcBinary?: string;
  snapshotter: string;
  platform?: string;
}

function nonNegativeInt(what: string) {
  return (text: string) => {
    if (!/^\d+$/.test(text.trim())) throw new InvalidFlagValue(`invalid ${what} "${text}" (a whole number)`);
    const n = Number(text);
    if (!Number.isSafeInteger(n)) throw new InvalidFlagValue(`${what} "${text}" is too large`);
    return n;
  };
}

/** A size in bytes: 1048576, 512k, 64m, 1g (binary units, as Docker's). */
function byteSize(what: string) {
  return (text: string) => {
    const m = /^(\d+(?:\.\d+)?)([bkmgt]?)b?$/i.exec(text.trim());
    if (!m) throw new InvalidFlagValue(`invalid ${what} "${text}" (bytes, or with a unit: 512k, 64m, 1g)`);
    const n = Math.round(Number(m[1]) * 1024 ** 'bkmgt'.indexOf((m[2] || 'b').toLowerCase()));
    if (!Number.isSafeInteger(n)) throw new InvalidFlagValue(`${what} "${text}" is too large`);
    return n;
  };
}

function positiveNumber(text: string) {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidFlagValue(`invalid number of CPUs "${text}" (e.g. 0.5 or 2)`);
  return n;
}

/**
 * The container flags' table. `run` gets ctr run's --cpu-shares default of 1024 (ctr sets it on
 * every `run`; `containers create` has no such flag and sets none).
 */
export function containerFlagTable(opts: { run?: boolean } = {}): Flag[] {
  return [
    { flags: '-t, --tty', description: 'allocate a terminal for the process' },
    { flags: '-i, --interactive', description: "keep stdin open (berth always connects it; accepted for Docker's -it)" },
    { flags: '-e, --env <K=V>', description: 'set an environment variable, K=V (repeatable)', repeat: true },
    { flags: '--env-file <file>', description: 'read environment variables from a file, K=V one a line' },
    { flags: '-w, --cwd <dir>', description: 'working directory of the process (absolute; Docker: --workdir)' },
    { flags: '-u, --user <user>', description: 'user to run as: name, uid, name:group or uid:gid (looked up in the image)' },
    { flags: '--mount <spec>', description: 'add a mount: type=bind,src=/host,dst=/in,options=ro (binds are recursive; repeatable)', repeat: true },
    {
      flags: '-v, --volume <spec>',
      description: 'a host path /host:/in[:ro], a named volume NAME:/in[:ro|nocopy] (made if missing), or /in: an anonymous volume (repeatable)',
      repeat: true,
    },
    { flags: '--net-host', description: "use the host's network namespace (and its /etc/hosts and /etc/resolv.conf)" },
    { flags: '--hostname <name>', description: 'hostname inside the container' },
    { flags: '--memory-limit <bytes>', description: 'memory limit: bytes, or 512k, 64m, 1g', parse: byteSize('memory limit') },
    { flags: '-m, --memory <size>', description: 'memory limit, as Docker spells it: 64m, 1g', parse: byteSize('memory limit') },
    { flags: '--cpus <n>', description: 'CPU limit: a CFS quota of n × 100000 per 100000µs period', parse: positiveNumber },
    { flags: '--cpu-shares <n>', description: 'CPU shares (0: leave unset)', parse: nonNegativeInt('cpu shares'), default: opts.run ? 1024 : undefined },
    { flags: '--pids-limit <n>', description: 'maximum number of processes', parse: nonNegativeInt('pids limit') },
    { flags: '--read-only', description: "mount the container's root file system read-only" },
    { flags: '--privileged', description: 'all capabilities, all host devices, no masked paths, no seccomp (dangerous)' },
    { flags: '--cap-add <cap>', description: 'add a capability, e.g. NET_ADMIN or CAP_NET_ADMIN (repeatable)', repeat: true },
    { flags: '--cap-drop <cap>', description: 'drop a capability (repeatable)', repeat: true },
    { flags: '--seccomp-profile <file>', description: 'seccomp profile instead of the default: OCI LinuxSeccomp or Docker profile JSON' },
    { flags: '--security-opt <opt>', description: 'seccomp=unconfined (no seccomp) or seccomp=FILE (as --seccomp-profile)', repeat: true },
    { flags: '--label <k=v>', description: 'a container label, also set as an OCI annotation (repeatable)', repeat: true },
    { flags: '--annotation <k=v>', description: 'an OCI annotation (repeatable)', repeat: true },
    { flags: '--runtime <name>', description: 'runtime (shim) name', default: defaultRuntime },
    { flags: '--runc-binary <path>', description: 'runc-compatible binary for io.containerd.runc.v2 (its BinaryName option)' },
    { flags: '--snapshotter <name>', description: 'snapshotter for the root file system', env: 'BERTH_SNAPSHOTTER', default: 'overlayfs' },
    { flags: '--platform <platform>', description: 'use this platform of a multi-platform image' },
  ];
}

/** Adds the container flags to a command (see containerFlagTable). */
export function containerFlags(cmd: Command, opts: { run?: boolean } = {}): Command {
  return addFlags(cmd, containerFlagTable(opts));
}

/** ctr's LabelArgs: k=v, and a bare k means k=true. */
export function labelArgs(args: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const arg of args) {
    const eq = arg.indexOf('=');
    const key = eq < 0 ? arg : arg.slice(0, eq);
    if (key === '') throw new Error(`invalid label "${arg}": the key is empty`);
    out[key] = eq < 0 ? 'true' : arg.slice(eq + 1);
  }
  return out;
}

function annotationArgs(args: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const arg of args) {
    const eq = arg.indexOf('=');
    if (eq <= 0) throw new Error(`invalid annotation "${arg}" (use key=value)`);
    out[arg.slice(0, eq)] = arg.slice(eq + 1);
  }
  return out;
}

/** One CSV record (encoding/csv as ctr reads --mount): fields split on commas, "…" quotes. */
function csvFields(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    let field = '';
    if (line[i] === '"') {
      i++;
      for (;;) {
        if (i >= line.length) throw new Error(`invalid mount "${line}": unterminated quote`);
        if (line[i] === '"') {
          if (line[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += line[i++];
      }
      if (i < line.length && line[i] !== ',') throw new Error(`invalid mount "${line}": text after a closing quote`);
    } else {
      const end = line.indexOf(',', i);
      field = line.slice(i, end < 0 ? line.length : end);
      i = end < 0 ? line.length : end;
    }
    out.push(field);
    if (i >= line.length) return out;
    i++; // the comma
  }
}

/** ctr's --mount syntax: type=bind,src=/a,dst=/b,options=rbind:ro (source/destination too). */
export function parseMountFlag(text: string): SpecMount {
  const m: SpecMount = { destination: '' };
  for (const field of csvFields(text)) {
    const eq = field.indexOf('=');
    if (eq < 0) throw new Error(`invalid mount "${text}": expected key=value fields`);
    const key = field.slice(0, eq);
    const value = field.slice(eq + 1);
    switch (key) {
      case 'type':
        m.type = value;
        break;
      case 'source':
      case 'src':
        m.source = value;
        break;
      case 'destination':
      case 'dst':
        m.destination = value;
        break;
      case 'options':
        m.options = value.split(':');
        break;
      default:
        throw new Error(`invalid mount "${text}": option "${key}" is not supported (type, src, dst, options)`);
    }
  }
  if (!m.destination.startsWith('/')) throw new Error(`invalid mount "${text}": dst must be an absolute path in the container`);
  return m;
}

/**
 * Docker's -v: `/host:/in[:ro|rw]` binds a host path (recursively); `NAME:/in[:ro|rw|nocopy,...]`
 * mounts the named volume (berthd makes it if missing); `/in` alone an anonymous volume.
 */
export function parseVolumeFlag(text: string): SpecMount {
  const parts = text.split(':');
  if (parts.length === 1) {
    if (!text.startsWith('/')) throw new Error(`invalid volume "${text}": a path in the container must be absolute`);
    return { destination: text, type: 'volume', source: '', options: [] };
  }
  const [source = '', destination = '', mode = '', extra] = parts;
  const options = mode === '' ? [] : mode.split(',');
  if (extra !== undefined || options.some((o) => !['ro', 'rw', 'nocopy', 'z', 'Z'].includes(o)))
    throw new Error(`invalid volume "${text}": use /host:/in[:ro|rw] or NAME:/in[:ro|rw|nocopy]`);
  if (!destination.startsWith('/')) throw new Error(`invalid volume "${text}": the container path must be absolute`);
  const ro = options.includes('ro') ? 'ro' : 'rw';
  if (source.startsWith('/')) return { destination, type: 'bind', source, options: ['rbind', ro] };
  return { destination, type: 'volume', source, options: [ro, ...(options.includes('nocopy') ? ['nocopy'] : [])] };
}

function memoryLimitOf(flags: ContainerFlags): number | undefined {
  if (flags.memory !== undefined && flags.memoryLimit !== undefined && flags.memory !== flags.memoryLimit)
    throw new Error('--memory and --memory-limit say different things: give one');
  return flags.memory ?? flags.memoryLimit;
}

/** Lines of an env file; blank lines and #-comments are skipped. */
export function readEnvFile(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read --env-file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return text
    .split('\n')
    .map((l) => l.replace(/\r$/, ''))
    .filter((l) => l.trim() !== '' && !l.trimStart().startsWith('#'));
}

/** --seccomp-profile and --security-opt seccomp=…: the profile file read, or 'unconfined'. */
export function seccompChoice(profileFile: string | undefined, securityOpts: readonly string[]): SpecFlags['seccomp'] {
  let choice = profileFile === undefined ? undefined : { file: profileFile, flag: `--seccomp-profile ${profileFile}` };
  for (const opt of securityOpts) {
    const m = /^seccomp=(.+)$/.exec(opt);
    if (!m) throw new Error(`unsupported --security-opt "${opt}" (use seccomp=unconfined or seccomp=FILE)`);
    if (choice && choice.file !== m[1]) throw new Error(`--security-opt ${opt} contradicts ${choice.flag}`);
    choice = { file: m[1]!, flag: `--security-opt ${opt}` };
  }
  if (!choice) return undefined;
  if (choice.flag.startsWith('--security-opt') && choice.file === 'unconfined') return 'unconfined';
  try {
    return { profile: readFileSync(choice.file, 'utf8'), from: choice.file };
  } catch (err) {
    throw new Error(`cannot read the seccomp profile ${choice.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** The user's terminal size, if stdout is one. */
export function terminalSize(): { width: number; height: number } | undefined {
  const out = process.stdout;
  return out.isTTY && out.columns && out.rows ? { width: out.columns, height: out.rows } : undefined;
}

/** The command-line part of the spec inputs. */
export function specFlags(flags: ContainerFlags, args: readonly string[]): SpecFlags {
  const labels = labelArgs(flags.label);
  return {
    args: args.length > 0 ? [...args] : undefined,
    env: flags.env,
    envFile: flags.envFile ? readEnvFile(flags.envFile) : undefined,
    cwd: flags.cwd,
    user: flags.user,
    mounts: [...flags.mount.map(parseMountFlag), ...(flags.volume ?? []).map(parseVolumeFlag)],
    tty: Boolean(flags.tty),
    consoleSize: flags.tty ? terminalSize() : undefined,
    netHost: Boolean(flags.netHost),
    hostname: flags.hostname,
    memoryLimit: memoryLimitOf(flags),
    cpus: flags.cpus,
    cpuShares: flags.cpuShares,
    pidsLimit: flags.pidsLimit,
    readOnly: Boolean(flags.readOnly),
    privileged: Boolean(flags.privileged),
    capAdd: normalizeCapabilities(flags.capAdd),
    capDrop: normalizeCapabilities(flags.capDrop),
    seccomp: seccompChoice(flags.seccompProfile, flags.securityOpt),
    labels,
    annotations: annotationArgs(flags.annotation),
  };
}
