import type { DaemonName } from './setup.ts';

/** One figure from one round against one daemon. */
export interface Measurement {
  metric: string;
  unit: string;
  better: 'lower' | 'higher';
  value: number;
}

/** Nearest-rank percentile (p in 0..100) of an unsorted list. */
export function percentile(values: ArrayLike<number>, p: number): number {
  const sorted = Float64Array.from(values).sort();
  if (sorted.length === 0) return NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}

/** The middle value (the mean of the two middle ones for an even count). */
export function median(values: ArrayLike<number>): number {
  const sorted = Float64Array.from(values).sort();
  const n = sorted.length;
  if (n === 0) return NaN;
  return n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

/** Collects measurements per metric and daemon, in the order the metrics first appear. */
export class Results {
  private readonly metrics = new Map<string, { unit: string; better: 'lower' | 'higher'; values: Record<DaemonName, number[]> }>();

  add(daemon: DaemonName, ms: Measurement[]): void {
    for (const m of ms) {
      let entry = this.metrics.get(m.metric);
      if (!entry) {
        entry = { unit: m.unit, better: m.better, values: { containerd: [], berthd: [] } };
        this.metrics.set(m.metric, entry);
      }
      entry.values[daemon].push(m.value);
    }
  }

  /** The medians side by side, with berthd/containerd and who wins. */
  table(): string {
    const rows: string[][] = [['metric', 'unit', 'containerd', 'berthd', 'berthd/ctrd', 'better', 'verdict']];
    for (const [metric, e] of this.metrics) {
      const c = median(e.values.containerd);
      const b = median(e.values.berthd);
      const ratio = b / c;
      const berthWins = e.better === 'lower' ? ratio < 1 : ratio > 1;
      const factor = ratio >= 1 ? ratio : 1 / ratio;
      const verdict = !Number.isFinite(ratio)
        ? '-'
        : Math.abs(ratio - 1) < 0.02
          ? 'even'
          : `${berthWins ? 'berthd' : 'containerd'} ${factor.toFixed(2)}x better`;
      rows.push([metric, e.unit, fmt(c), fmt(b), Number.isFinite(ratio) ? ratio.toFixed(2) : '-', e.better, verdict]);
    }
    const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
    const line = (r: string[]) =>
      r
        .map((cell, i) => (i === 0 || i >= 5 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])))
        .join('  ')
        .trimEnd();
    return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
  }

  /** The same as a markdown table (for bench/README.md). */
  markdown(): string {
    const lines = ['| metric | unit | containerd | berthd | berthd/containerd | better |', '| --- | --- | ---: | ---: | ---: | --- |'];
    for (const [metric, e] of this.metrics) {
      const c = median(e.values.containerd);
      const b = median(e.values.berthd);
      const ratio = b / c;
      lines.push(`| ${metric} | ${e.unit} | ${fmt(c)} | ${fmt(b)} | ${Number.isFinite(ratio) ? ratio.toFixed(2) : '-'} | ${e.better} |`);
    }
    return lines.join('\n');
  }
}

export function fmt(v: number): string {
  if (!Number.isFinite(v)) return '-';
  if (Math.abs(v) >= 100) return Math.round(v).toString();
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toFixed(2);
}
