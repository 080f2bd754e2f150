import { parseGoDuration } from '../core/duration.ts';
import { InvalidFlagValue } from './flags.ts';

/**
 * Parses a duration the way Go's time.ParseDuration does ("10s", "500ms", "1h30m", "1.5h", "0"),
 * into milliseconds. Throws InvalidFlagValue so a bad flag is a usage error.
 */
export function parseDuration(text: string): number {
  const ms = parseGoDuration(text);
  if (ms === undefined) throw new InvalidFlagValue(`invalid duration "${text}" (use a number with a unit: 500ms, 10s, 5m, 24h, or 0)`);
  return ms;
}

/** A non-negative integer flag value (sizes). */
export function parseSize(text: string): number {
  if (!/^\d+$/.test(text.trim())) throw new InvalidFlagValue(`invalid size "${text}" (a number of bytes)`);
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new InvalidFlagValue(`size "${text}" is too large`);
  return n;
}

/**
 * `key=value` arguments into a label map, as ctr reads them: a bare `key` means `key=true`, and
 * `key=` (an empty value) asks for the label to be removed where that makes sense.
 */
export function parseLabels(args: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const arg of args) {
    const eq = arg.indexOf('=');
    const key = eq < 0 ? arg : arg.slice(0, eq);
    if (key === '') throw new InvalidFlagValue(`invalid label "${arg}": the key is empty (use key=value)`);
    labels[key] = eq < 0 ? 'true' : arg.slice(eq + 1);
  }
  return labels;
}

/** commander argParser for a repeatable `--label k=v` flag. */
export const collectLabel = (value: string, previous: string[] = []) => [...previous, value];

/** RFC 3339 without fractional seconds, as Go's time.RFC3339 prints UTC times. */
export const rfc3339 = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
