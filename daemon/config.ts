import { readFile } from 'node:fs/promises';
import { parse } from 'smol-toml';
import { invalidArgument } from '../core/errors.ts';
import { isLogLevel, type LogLevel } from './log.ts';

/** berthd's configuration: defaults, then the TOML file, then command-line flags. */
export interface Config {
  root: string;
  state: string;
  address: string;
  /** owner and group of the socket ([grpc] uid, gid) */
  uid: number;
  gid: number;
  logLevel: LogLevel;
  /** plugins ("<type>.<id>") that must load or the daemon does not start */
  required_plugins: string[];
  disabled_plugins: string[];
  /** per-plugin settings, [plugins."<type>.<id>"] */
  plugins: Record<string, unknown>;
}

export const defaults: Config = {
  root: '/var/lib/berth',
  state: '/run/berth',
  address: '/run/berth/berth.sock',
  uid: 0,
  gid: 0,
  logLevel: 'info',
  required_plugins: [],
  disabled_plugins: [],
  plugins: {},
};

export const defaultConfigPath = '/etc/berth/config.toml';

/**
 * Reads a config file in containerd's layout (version = 2; root, state, [grpc] address,
 * [debug] level, required_plugins, disabled_plugins, [plugins."<type>.<id>"]). A missing file
 * at the default path is fine; a missing file that was asked for is an error.
 */
export async function loadConfig(path: string | undefined): Promise<Config> {
  let text: string;
  try {
    text = await readFile(path ?? defaultConfigPath, 'utf8');
  } catch (err) {
    if (path === undefined && (err as NodeJS.ErrnoException).code === 'ENOENT') return structuredClone(defaults);
    throw invalidArgument(`cannot read config ${path}: ${(err as Error).message}`);
  }
  return parseConfig(text, path ?? defaultConfigPath);
}

/** The configuration a config file's text gives, over the defaults. */
export function parseConfig(text: string, path: string): Config {
  const config = structuredClone(defaults);
  let doc: Record<string, unknown>;
  try {
    doc = parse(text) as Record<string, unknown>;
  } catch (err) {
    throw invalidArgument(`config ${path}: ${(err as Error).message}`);
  }
  const str = (v: unknown, name: string) => {
    if (typeof v !== 'string') throw invalidArgument(`config: ${name} must be a string`);
    return v;
  };
  const list = (v: unknown, name: string) => {
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw invalidArgument(`config: ${name} must be a list of strings`);
    return v as string[];
  };
  const table = (v: unknown, name: string) => {
    if (v === undefined) return undefined;
    if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Date) throw invalidArgument(`config: ${name} must be a table`);
    return v as Record<string, unknown>;
  };
  // smol-toml's tables have no prototype: String() of one throws a TypeError
  const shown = (v: unknown) => (typeof v === 'object' && !(v instanceof Date) ? 'that is not a number' : String(v));
  if (doc.version !== undefined && doc.version !== 2) throw invalidArgument(`config: unsupported version ${shown(doc.version)} (berth reads version 2)`);
  if (doc.root !== undefined) config.root = str(doc.root, 'root');
  if (doc.state !== undefined) config.state = str(doc.state, 'state');
  const grpc = table(doc.grpc, 'grpc');
  if (grpc?.address !== undefined) config.address = str(grpc.address, 'grpc.address');
  const id = (v: unknown, name: string) => {
    if (!Number.isInteger(v) || (v as number) < 0 || (v as number) > 0xfffffffe) throw invalidArgument(`config: ${name} must be a user or group number`);
    return v as number;
  };
  if (grpc?.uid !== undefined) config.uid = id(grpc.uid, 'grpc.uid');
  if (grpc?.gid !== undefined) config.gid = id(grpc.gid, 'grpc.gid');
  const debug = table(doc.debug, 'debug');
  if (debug?.level !== undefined) {
    const level = str(debug.level, 'debug.level');
    if (!isLogLevel(level)) throw invalidArgument(`config: debug.level must be one of debug, info, warn, error`);
    config.logLevel = level;
  }
  if (doc.required_plugins !== undefined) config.required_plugins = list(doc.required_plugins, 'required_plugins');
  if (doc.disabled_plugins !== undefined) config.disabled_plugins = list(doc.disabled_plugins, 'disabled_plugins');
  if (doc.plugins !== undefined) config.plugins = table(doc.plugins, 'plugins')!;
  return config;
}

/**
 * The whole default configuration, commented (`berthd config default`): every key berthd reads,
 * with its default value. A test parses it back, so it cannot drift from `defaults`.
 */
export function defaultConfigText(p: { journalMaxBytes: number; maxConcurrentUnpacks: number; hostsDir: string }): string {
  return `# berthd's configuration (containerd's layout, version 2). Every value shown is the default.
version = 2

# persistent data: content, snapshots, metadata (mode 0700)
root = "${defaults.root}"
# runtime state: task bundles, monitor sockets, FIFOs; gone at reboot
state = "${defaults.state}"
# "<type>.<id>" of plugins that must load, or berthd does not start
required_plugins = []
# "<type>.<id>" of plugins not to load, e.g. "io.containerd.grpc.v1.events"
disabled_plugins = []

[grpc]
  # the unix socket of the gRPC API (mode 0660); ttrpc shims' events go to "<address>.ttrpc"
  address = "${defaults.address}"
  # owner and group of the socket: a group given here may use berthd without root
  uid = 0
  gid = 0

[debug]
  # debug, info, warn or error
  level = "${defaults.logLevel}"

[plugins]
  [plugins."io.containerd.gc.v1.scheduler"]
    # the collector runs this long after something is deleted
    delay_ms = 100

  [plugins."io.containerd.event.v1.exchange"]
    # bound of the on-disk event journal that Events/Subscribe replays (docs/events.md)
    journal_max_bytes = ${p.journalMaxBytes}

  [plugins."io.containerd.grpc.v1.pull"]
    # registry hosts: <host>/hosts.toml in containerd's format (mirrors, CAs, client certificates)
    config_path = "${p.hostsDir}"
    # layers of one image applied side by side (default: one per two cores, 1 to 4)
    max_concurrent_unpacks = ${p.maxConcurrentUnpacks}

  [plugins."io.containerd.runtime.v2.task"]
    # runtime name -> shim binary; without an entry berthd runs io.containerd.runc.v2 itself
    # (runc and a berth-monitor per process), e.g.
    # "io.containerd.runc.v2" = "/usr/bin/containerd-shim-runc-v2"
    [plugins."io.containerd.runtime.v2.task".shims]
`;
}
