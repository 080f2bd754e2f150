import type { Command } from 'commander';
import type { Container__Output } from '../../api/gen/containerd/services/containers/v1/Container.ts';
import type { Context } from '../context.ts';
import { sinceRequest } from './events.ts';
import { logUriLabel } from './run.ts';

/** The log URI annotation in the container's spec, if any. */
function recordedAnnotation(container: Container__Output): string | undefined {
  try {
    const spec = JSON.parse(Buffer.from(container.spec?.value ?? []).toString('utf8')) as { annotations?: Record<string, unknown> };
    const value = spec?.annotations?.[logUriLabel];
    return typeof value === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

/** What `--since` gives: a duration back from now (10m) or an RFC 3339 time. */
export function sinceTime(text: string, now = Date.now()): number {
  if (/^\d+$/.test(text)) throw new Error(`--since ${text}: give an RFC 3339 time (2026-01-02T15:04:05Z) or a duration (10m)`);
  const r = sinceRequest(text, now);
  if (!('since' in r)) throw new Error(`--since ${text}: give an RFC 3339 time or a duration`);
  return Number(r.since.seconds) * 1000 + Math.floor(r.since.nanos / 1e6);
}

interface LogFlags {
  follow?: boolean;
  tail?: string;
  timestamps?: boolean;
  since?: string;
}

/**
 * `berth logs ID`: the container's log as berthd keeps it (berth.services.logs.v1: stdout to
 * stdout, stderr to stderr); for a container that keeps none, the file of its `--log-uri
 * file:///…`, found from the label and annotation `berth run` records, or else from the
 * running task's stdout URI.
 */
export function register(program: Command, ctx: Context) {
  program
    .command('logs')
    .description("print a container's output: the log berthd keeps, or the file of --log-uri file:///path")
    .argument('<id>', 'container id')
    .option('-f, --follow', 'keep printing what is written until the container exits')
    .option('-n, --tail <lines>', 'only the last lines (a number, or all)', 'all')
    .option('-t, --timestamps', 'show when each line was written')
    .option('--since <time>', 'only lines since a time (RFC 3339) or a duration ago (10m, 1h30m)')
    .addHelpText('after', '\nExamples:\n  berth logs web\n  berth logs -f --tail 20 web\n  berth logs --since 10m -t web')
    .action(async (id: string, flags: LogFlags) => {
      const c = await ctx.client();
      const tail = flags.tail === undefined || flags.tail === 'all' ? -1 : Number(flags.tail);
      if (!Number.isSafeInteger(tail) || tail < -1) throw new Error(`--tail must be a number of lines or all, not "${flags.tail}"`);
      const now = Date.now();
      // --tail 0: no earlier line, only what comes
      const sinceMs = tail === 0 ? now : flags.since !== undefined ? sinceTime(flags.since, now) : undefined;
      const { toTimestamp } = await import('../../api/timestamp.ts');
      try {
        const stream = c.logs.Read(
          { container_id: id, follow: Boolean(flags.follow), tail: Math.max(tail, 0), since: sinceMs === undefined ? null : toTimestamp(sinceMs) },
          { deadline: false },
        );
        for await (const e of stream) {
          const out = e.stream === 'stderr' ? process.stderr : process.stdout;
          if (flags.timestamps) {
            const ns = String(e.timestamp?.nanos ?? 0).padStart(9, '0');
            const when = new Date(Number(e.timestamp?.seconds ?? 0) * 1000).toISOString().replace(/\.\d{3}Z$/, `.${ns}Z`);
            out.write(`${when} `);
          }
          if (!out.write(e.data)) await new Promise((r) => out.once('drain', r));
        }
        return;
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code !== 'FailedPrecondition' && code !== 'Unimplemented') throw err;
      }
      await printLogUriFile(c, id, Boolean(flags.follow));
    });
}

/** The output of a container run with `--log-uri file:///…` (no timestamps, tail or since: the file is the process's raw output). */
async function printLogUriFile(c: import('../../transport/client.ts').BerthClient, id: string, follow: boolean): Promise<void> {
  const { logFileOf } = await import('../io/stdio.ts');
  const container = (await c.containers.Get({ id })).container!;
  let uri: string | undefined = container.labels?.[logUriLabel];
  if (uri !== undefined && recordedAnnotation(container) !== uri) uri = undefined;
  if (!uri) {
    const res = await c.tasks.Get({ container_id: id, exec_id: '' }).catch(() => undefined);
    uri = res?.process?.stdout;
  }
  const file = uri ? logFileOf(uri) : undefined;
  if (!file) throw new Error(`container ${id} keeps no log (berth run keeps one; or start it with --log-uri file:///path)`);
  const { createReadStream, statSync } = await import('node:fs');
  let offset = 0;
  const copy = () =>
    new Promise<void>((resolve, reject) => {
      let size: number;
      try {
        size = statSync(file).size;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return resolve();
        return reject(err);
      }
      if (size < offset) offset = 0; // truncated
      if (size === offset) return resolve();
      const s = createReadStream(file, { start: offset, end: size - 1 });
      s.on('data', (d) => process.stdout.write(d));
      s.on('error', reject);
      s.on('end', () => {
        offset = size;
        resolve();
      });
    });
  await copy();
  if (!follow) return;
  const { waitWithoutDeadline } = await import('../io/session.ts');
  const wait = waitWithoutDeadline(c, { container_id: id, exec_id: '' });
  let exited = false;
  wait.result.then(
    () => (exited = true),
    () => (exited = true),
  );
  while (!exited) {
    await new Promise((r) => setTimeout(r, 250));
    await copy();
  }
  await copy();
}
