import { type Command, Option } from 'commander';

/**
 * Output helpers shared by every command: aligned tables, human sizes and ages, JSON, and the
 * `--format table|json` / `-q` pair that every listing takes.
 */

export type Format = 'table' | 'json';

export interface ListFlags {
  format: Format;
  quiet?: boolean;
}

/** Writes to stdout. */
export const out = (text: string) => {
  process.stdout.write(text);
};

/** Writes one line to stderr. */
export const warn = (line: string) => {
  process.stderr.write(`${line}\n`);
};

/** Adds `--format table|json` and `-q/--quiet` to a listing command. */
export function listFlags(cmd: Command, quietHelp: string): Command {
  return cmd.addOption(new Option('--format <format>', 'output format').choices(['table', 'json']).default('table')).option('-q, --quiet', quietHelp);
}

/** Adds `--format table|json` to a command that prints one object. */
export function formatFlag(cmd: Command): Command {
  return cmd.addOption(new Option('--format <format>', 'output format').choices(['table', 'json']).default('table'));
}

/**
 * Aligns rows under headers, columns separated by three spaces; the last column is not padded,
 * so lines carry no trailing blanks. Widths count UTF-16 units, which is right for what berth
 * prints (digests, ids, labels, sizes).
 */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('   ')
      .trimEnd();
  return [headers, ...rows].map((r) => `${line(r)}\n`).join('');
}

/** One column of a listing: a header and how to render an item in it. */
export type Column<T> = [header: string, cell: (item: T) => string];

export interface ListSpec<T> {
  /** what `-q` prints, one per line */
  id: (item: T) => string;
  /** the JSON object for `--format json` */
  json: (item: T) => unknown;
  columns: readonly Column<T>[];
}

/** Prints a listing as a table, as one JSON array, or as ids only. */
export function printList<T>(items: readonly T[], flags: ListFlags, spec: ListSpec<T>) {
  if (flags.quiet) {
    out(items.map((item) => `${spec.id(item)}\n`).join(''));
  } else if (flags.format === 'json') {
    printJson(items.map(spec.json));
  } else {
    out(
      table(
        spec.columns.map(([h]) => h),
        items.map((item) => spec.columns.map(([, cell]) => cell(item))),
      ),
    );
  }
}

export function printJson(value: unknown) {
  out(`${JSON.stringify(value, null, 2)}\n`);
}

const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];

/** 0 B, 512 B, 1.5 KiB, 12.3 MiB, 123 MiB: binary units, three significant digits. */
export function formatSize(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return String(bytes);
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  // three significant digits, but whole numbers from 100 up; 1023.9 KiB carries into 1 MiB
  let shown = unit === 0 || value >= 100 ? Math.round(value) : Number(value.toPrecision(3));
  if (shown >= 1024 && unit < units.length - 1) {
    unit++;
    shown = 1;
  }
  return `${shown} ${units[unit]}`;
}

/**
 * A duration in words, as Docker and ctr print them (go-units HumanDuration):
 * "Less than a second", "5 seconds", "About a minute", "3 minutes", "2 hours", "3 days".
 */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  const minutes = Math.floor(ms / 60_000);
  const hours = Math.round(ms / 3_600_000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(hours / 24 / 365)} years`;
}

/** "3 minutes ago" for a past time, "in 2 hours" for a future one, "-" for none. */
export function age(ms: number | undefined, now = Date.now()): string {
  if (ms === undefined) return '-';
  const d = now - ms;
  return d >= 0
    ? `${humanDuration(d)} ago`
    : `in ${humanDuration(-d)
        .replace(/^About /, 'about ')
        .replace(/^Less/, 'less')}`;
}

/** An ISO 8601 timestamp for JSON output, or null. */
export const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

/** k=v,k2=v2 sorted by key, or "-" for none. */
export function formatLabels(labels: Record<string, string> | undefined): string {
  const pairs = Object.entries(labels ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`);
  return pairs.length > 0 ? pairs.join(',') : '-';
}

/** Labels with keys in sorted order, for JSON output. */
export function sortedLabels(labels: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(labels ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
