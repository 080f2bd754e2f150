import { type Command, Option } from 'commander';
import type { Context } from '../../context.ts';

function positiveInt(what: string) {
  return (text: string) => {
    if (!/^\d+$/.test(text)) throw new Error(`invalid ${what} "${text}"`);
    return Number(text);
  };
}

/** `berth tasks update ID`: a running task's resource limits. */
export function register(tasks: Command, ctx: Context) {
  tasks
    .command('update')
    .description("change a running task's resource limits")
    .argument('<id>', 'container id')
    .addOption(new Option('--memory-limit <bytes>', 'memory limit in bytes').argParser(positiveInt('memory limit')))
    .addOption(
      new Option('--cpus <n>', 'CPU limit (CFS quota of n × 100000 per 100000µs)').argParser((v: string) => {
        const n = Number(v);
        if (!Number.isFinite(n) || n <= 0) throw new Error(`invalid number of CPUs "${v}"`);
        return n;
      }),
    )
    .addOption(new Option('--pids-limit <n>', 'maximum number of processes').argParser(positiveInt('pids limit')))
    .action(async (id: string, flags: { memoryLimit?: number; cpus?: number; pidsLimit?: number }) => {
      const [c, { resourcesTypeUrl }] = await Promise.all([ctx.client(), import('../../../core/spec/names.ts')]);
      const resources: Record<string, unknown> = {};
      if (flags.memoryLimit !== undefined) resources.memory = { limit: flags.memoryLimit };
      if (flags.cpus !== undefined) resources.cpu = { quota: Math.trunc(flags.cpus * 100000), period: 100000 };
      if (flags.pidsLimit !== undefined) resources.pids = { limit: flags.pidsLimit };
      if (Object.keys(resources).length === 0) throw new Error('nothing to update: give --memory-limit, --cpus or --pids-limit');
      await c.tasks.Update({
        container_id: id,
        resources: { type_url: resourcesTypeUrl, value: Buffer.from(JSON.stringify(resources)) },
        annotations: {},
      });
    });
}
