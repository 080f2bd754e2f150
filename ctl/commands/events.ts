import { type Command, Option } from 'commander';
import { BerthEvents } from '../../api/services.ts';
import { type Timestamp, toTimestamp } from '../../api/timestamp.ts';
import { parseGoDuration } from '../../core/duration.ts';
import type { Context } from '../context.ts';
import { type Format, out, warn } from '../output.ts';

/** RFC 3339 with nanoseconds, from a protobuf Timestamp. */
export function timestampText(t: { seconds: number | string; nanos: number } | null | undefined): string | null {
  if (!t) return null;
  const seconds = Number(t.seconds);
  const base = new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, '');
  return `${base}.${String(t.nanos).padStart(9, '0')}Z`;
}

// Decoded payloads as JSON: bytes as base64, nested Timestamps as RFC 3339 strings.
function jsonValue(_key: string, value: unknown): unknown {
  if (value && typeof value === 'object') {
    const v = value as Record<string, unknown>;
    if (v.type === 'Buffer' && Array.isArray(v.data)) return Buffer.from(v.data as number[]).toString('base64');
    const keys = Object.keys(v);
    if (keys.length === 2 && 'seconds' in v && 'nanos' in v) return timestampText(v as { seconds: number; nanos: number });
  }
  return value;
}

/**
 * Where `--since` starts: a seq (a whole number), an RFC 3339 time, or a duration back from now
 * (10m, 1h30m).
 */
export function sinceRequest(text: string, now = Date.now()): { since_seq: number } | { since: Timestamp } {
  if (/^\d+$/.test(text)) {
    const seq = Number(text);
    if (!Number.isSafeInteger(seq) || seq < 1) throw new Error(`--since ${text}: a seq starts at 1`);
    return { since_seq: seq };
  }
  const ago = parseGoDuration(text);
  if (ago !== undefined) return { since: toTimestamp(now - ago) };
  if (/^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/.test(text)) {
    const ms = Date.parse(text.replace(' ', 'T'));
    if (!Number.isNaN(ms)) return { since: toTimestamp(ms) };
  }
  throw new Error(`--since ${JSON.stringify(text)}: give a seq (e.g. 120), an RFC 3339 time (2026-01-02T15:04:05Z) or a duration (10m)`);
}

/** `berth events [filters...]`: prints events as they happen (after those kept since --since), until interrupted. */
export function register(program: Command, ctx: Context) {
  program
    .command('events')
    .alias('event')
    .description('print events as they happen (filters such as topic~="^/namespaces/" or namespace==default) until interrupted')
    .argument('[filters...]', 'containerd filter expressions; several are ORed')
    .option('--since <time|seq>', "first replay the events berthd's journal kept from a seq, an RFC 3339 time or a duration ago (10m)")
    .addOption(
      new Option('--format <format>', 'table: TIMESTAMP NAMESPACE TOPIC EVENT lines; json: one JSON object per line')
        .choices(['table', 'json'])
        .default('table'),
    )
    .action(async (filters: string[], flags: { format: Format; since?: string }) => {
      const since = flags.since === undefined ? {} : sinceRequest(flags.since);
      const c = await ctx.client({ namespaced: false });
      let call: { cancel(): void } | undefined;
      let interrupted = false;
      const stop = () => {
        interrupted = true;
        call?.cancel();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      let unpackAny: typeof import('../../core/any.ts').unpackAny | undefined;
      try {
        for await (const e of c.service(BerthEvents).Subscribe({ filters, ...since }, { deadline: false, onCall: (x) => (call = x) })) {
          let type = e.event?.type_url ?? '';
          let event: unknown = null;
          if (e.event) {
            unpackAny ??= (await import('../../core/any.ts')).unpackAny;
            try {
              const decoded = unpackAny(e.event);
              type = decoded.typeName;
              event = decoded.message;
            } catch (err) {
              warn(`berth: cannot decode a ${e.topic} event of type ${type}: ${(err as Error).message}`);
            }
          }
          const timestamp = timestampText(e.timestamp);
          if (flags.format === 'json') {
            out(`${JSON.stringify({ seq: Number(e.seq), timestamp, namespace: e.namespace, topic: e.topic, type, event }, jsonValue)}\n`);
          } else {
            out(`${timestamp} ${e.namespace} ${e.topic} ${JSON.stringify(event, jsonValue)}\n`);
          }
        }
      } catch (err) {
        if (!interrupted) throw err;
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
    });
}
