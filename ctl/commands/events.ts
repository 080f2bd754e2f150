import { type Command, Option } from 'commander';
import { Events } from '../../api/services.ts';
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

/** `berth events [filters...]`: prints events as they happen, until interrupted. */
export function register(program: Command, ctx: Context) {
  program
    .command('events')
    .alias('event')
    .description('print events as they happen (filters such as topic~="^/namespaces/" or namespace==default) until interrupted')
    .argument('[filters...]', 'containerd filter expressions; several are ORed')
    .addOption(
      new Option('--format <format>', 'table: TIMESTAMP NAMESPACE TOPIC EVENT lines; json: one JSON object per line')
        .choices(['table', 'json'])
        .default('table'),
    )
    .action(async (filters: string[], flags: { format: Format }) => {
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
        for await (const e of c.service(Events).Subscribe({ filters }, { deadline: false, onCall: (x) => (call = x) })) {
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
            out(`${JSON.stringify({ timestamp, namespace: e.namespace, topic: e.topic, type, event }, jsonValue)}\n`);
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
