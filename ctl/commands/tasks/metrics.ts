import type { Command } from 'commander';
import type { Context } from '../../context.ts';
import { type Format, formatFlag, out, printJson, table } from '../../output.ts';

// biome-ignore lint/suspicious/noExplicitAny: cgroup v1 and v2 metrics differ in shape; printed field by field where present
function metricRows(typeName: string, m: Record<string, any>): [string, string][] {
  const n = (v: unknown) => (v === undefined || v === null ? '-' : String(v));
  if (typeName.endsWith('cgroups.v2.Metrics')) {
    return [
      ['memory.usage', n(m.memory?.usage)],
      ['memory.usage_limit', n(m.memory?.usage_limit)],
      ['memory.swap_usage', n(m.memory?.swap_usage)],
      ['memory.oom_kill', n(m.memory_events?.oom_kill)],
      ['cpu.usage_usec', n(m.cpu?.usage_usec)],
      ['cpu.user_usec', n(m.cpu?.user_usec)],
      ['cpu.system_usec', n(m.cpu?.system_usec)],
      ['cpu.nr_throttled', n(m.cpu?.nr_throttled)],
      ['pids.current', n(m.pids?.current)],
      ['pids.limit', n(m.pids?.limit)],
    ];
  }
  return [
    ['memory.usage', n(m.memory?.usage?.usage)],
    ['memory.limit', n(m.memory?.usage?.limit)],
    ['memory.max', n(m.memory?.usage?.max)],
    ['cpu.usage_total_ns', n(m.cpu?.usage?.total)],
    ['cpu.usage_user_ns', n(m.cpu?.usage?.user)],
    ['cpu.usage_kernel_ns', n(m.cpu?.usage?.kernel)],
    ['cpu.throttled_periods', n(m.cpu?.throttling?.throttled_periods)],
    ['pids.current', n(m.pids?.current)],
    ['pids.limit', n(m.pids?.limit)],
  ];
}

/** `berth tasks metrics ID`: a task's cgroup figures. */
export function register(tasks: Command, ctx: Context) {
  formatFlag(tasks.command('metrics').alias('metric').description('cgroup figures of a task: memory, cpu, pids').argument('<id>', 'container id')).action(
    async (id: string, flags: { format: Format }) => {
      const [c, { unpackAny }] = await Promise.all([ctx.client(), import('../../../core/any.ts')]);
      const { metrics } = await c.tasks.Metrics({ filters: [`id==${id}`] });
      const metric = metrics.find((m) => m.id === id) ?? metrics[0];
      if (!metric?.data) throw new Error(`no metrics for task ${id}`);
      // biome-ignore lint/suspicious/noExplicitAny: as metricRows
      const { typeName, message } = unpackAny<Record<string, any>>(metric.data);
      if (flags.format === 'json') return printJson({ id, type: typeName, metrics: message });
      out(table(['METRIC', 'VALUE'], metricRows(typeName, message)));
    },
  );
}
