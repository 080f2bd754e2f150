import type { Command } from 'commander';
import type { Container__Output } from '../../api/gen/containerd/services/containers/v1/Container.ts';
import type { Context } from '../context.ts';
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

/**
 * `berth logs ID`: the output of a container started with `--log-uri file:///…`. The file is
 * found from the label and annotation `berth run` records, or else from the running task's
 * stdout URI.
 */
export function register(program: Command, ctx: Context) {
  program
    .command('logs')
    .description('print the log file of a container run with --log-uri file:///path')
    .argument('<id>', 'container id')
    .option('-f, --follow', 'keep printing what is appended until the task exits')
    .action(async (id: string, flags: { follow?: boolean }) => {
      const [c, { logFileOf }] = await Promise.all([ctx.client(), import('../io/stdio.ts')]);
      const container = (await c.containers.Get({ id })).container!;
      let uri: string | undefined = container.labels?.[logUriLabel];
      if (uri !== undefined && recordedAnnotation(container) !== uri) uri = undefined;
      if (!uri) {
        const res = await c.tasks.Get({ container_id: id, exec_id: '' }).catch(() => undefined);
        uri = res?.process?.stdout;
      }
      const file = uri ? logFileOf(uri) : undefined;
      if (!file) throw new Error(`container ${id} does not log to a file (start it with --log-uri file:///path)`);
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
      if (!flags.follow) return;
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
    });
}
