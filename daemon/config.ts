import { readFile } from 'node:fs/promises';
import { parse } from 'smol-toml';
import { invalidArgument } from '../core/errors.ts';
import { isLogLevel, type LogLevel } from './log.ts';

/** berthd's configuration: defaults, then the TOML file, then command-line flags. */
export interface Config {
  root: string;
  state: string;
  address: string;
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
