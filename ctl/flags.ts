import type { Command } from 'commander';

/**
 * Command-line flags declared once, as data. commander's definition of a command reads a table
 * (addFlags), and so does the fast path of `berth run` (ctl/fast-run.ts), which parses its
 * command line without loading commander (parseFlags). Nothing here imports commander at run time.
 */
export interface Flag {
  /** commander's syntax: '-t, --tty' (a switch) or '-u, --user <user>' (takes a value) */
  flags: string;
  description: string;
  /** each use adds its value to a list, [] when never given */
  repeat?: boolean;
  /** the value of the text given; throws InvalidFlagValue saying what is wrong with it */
  parse?: (text: string) => unknown;
  /** when the flag is not given (nor its environment variable) */
  default?: string | number;
  /** environment variable that stands in for the flag when it is not given */
  env?: string;
}

/**
 * A flag value that does not parse. commander reports it as a usage error (exit status 2): it
 * recognises the error by this code, as it does its own InvalidArgumentError.
 */
export class InvalidFlagValue extends Error {
  readonly code = 'commander.invalidArgument';
  readonly exitCode = 1;
}

interface Parts {
  short?: string;
  long: string;
  takesValue: boolean;
  /** the key commander gives the value under: --cpu-shares → cpuShares */
  key: string;
}

const partsCache = new WeakMap<Flag, Parts>();

/** The parts of a flag's syntax, as commander reads them. */
function partsOf(flag: Flag): Parts {
  let parts = partsCache.get(flag);
  if (!parts) {
    const m = /^(?:(-[A-Za-z]), )?(--[a-z][a-z0-9-]*)(?: <[^>]+>)?$/.exec(flag.flags);
    if (!m) throw new Error(`flag syntax not understood: ${flag.flags}`);
    const long = m[2]!;
    const key = long.slice(2).replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
    parts = { short: m[1], long, takesValue: flag.flags.endsWith('>'), key };
    partsCache.set(flag, parts);
  }
  return parts;
}

/** Adds a table's flags to a command (created with the command's own factory: no commander import here). */
export function addFlags(cmd: Command, table: readonly Flag[]): Command {
  for (const flag of table) {
    const option = cmd.createOption(flag.flags, flag.description);
    if (flag.env) option.env(flag.env);
    const parse = flag.parse;
    if (flag.repeat) option.argParser((text: string, previous: unknown[] = []) => [...previous, parse ? parse(text) : text]).default([]);
    else if (parse) option.argParser((text: string) => parse(text));
    if (flag.default !== undefined) option.default(flag.default);
    cmd.addOption(option);
  }
  return cmd;
}

/**
 * Parses the flags at the start of `args` as commander would for a command defined by
 * addFlags(cmd, table) with passThroughOptions: flags until the first argument that is not one,
 * then only arguments. Returns the flag values (defaults and environment applied) and the
 * arguments, or undefined for anything it does not handle the same way as commander for certain:
 * an unknown flag, combined short flags, `--`, a missing or unparsable value. The caller then
 * leaves the command line to commander, which reports what is wrong.
 */
export function parseFlags(
  args: readonly string[],
  table: readonly Flag[],
  env: NodeJS.ProcessEnv = process.env,
): { values: Record<string, unknown>; rest: string[] } | undefined {
  const byName = new Map<string, Flag>();
  for (const flag of table) {
    const { short, long } = partsOf(flag);
    byName.set(long, flag);
    if (short) byName.set(short, flag);
  }
  const given = new Map<Flag, unknown>();
  let i = 0;
  for (; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('-') || arg === '-') break;
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const flag = byName.get(eq < 0 ? arg : arg.slice(0, eq));
    if (!flag) return undefined;
    const { takesValue } = partsOf(flag);
    if (!takesValue) {
      if (eq >= 0) return undefined;
      given.set(flag, true);
      continue;
    }
    let text: string | undefined;
    if (eq >= 0) text = arg.slice(eq + 1);
    else text = args[++i];
    if (text === undefined) return undefined;
    const value = flagValue(flag, text);
    if (value === invalid) return undefined;
    given.set(flag, flag.repeat ? [...((given.get(flag) as unknown[] | undefined) ?? []), value] : value);
  }
  const values: Record<string, unknown> = {};
  for (const flag of table) {
    const { key } = partsOf(flag);
    let value = given.get(flag);
    if (value === undefined && flag.env && env[flag.env] !== undefined) {
      value = partsOf(flag).takesValue ? flagValue(flag, env[flag.env]!) : true;
      if (value === invalid) return undefined;
      if (flag.repeat) value = [value];
    }
    value ??= flag.repeat ? [] : flag.default;
    if (value !== undefined) values[key] = value;
  }
  return { values, rest: args.slice(i) };
}

const invalid = Symbol('invalid');

function flagValue(flag: Flag, text: string): unknown {
  if (!flag.parse) return text;
  try {
    return flag.parse(text);
  } catch {
    return invalid;
  }
}
