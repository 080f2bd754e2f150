import type { BerthClient } from '../../transport/client.ts';
import { writeBlob } from '../../transport/clients/content.ts';
import { sha256 } from '../content.ts';
import type { Scenario } from '../scenario.ts';
import { fmt, type Measurement, percentile } from '../stats.ts';

export const namespace = 'bench';
const probe = Buffer.from('berth bench: the blob that Content.Info asks about\n'.repeat(64));
const probeDigest = sha256(probe);

/** The calls measured, each cheap on the server: the cost is mostly the RPC path itself. */
const methods: Array<{ name: string; call: (c: BerthClient) => Promise<unknown> }> = [
  { name: 'Version', call: (c) => c.version.Version({}) },
  { name: 'Content.Info', call: (c) => c.content.Info({ digest: probeDigest }) },
  { name: 'Namespaces.List', call: (c) => c.namespaces.List({}) },
];

/** Sequential calls, one at a time; each call's latency in microseconds. */
async function latencies(call: () => Promise<unknown>, n: number, maxMs: number): Promise<Float64Array> {
  const out = new Float64Array(n);
  const deadline = Date.now() + maxMs;
  let i = 0;
  for (; i < n && (i % 256 !== 0 || Date.now() < deadline); i++) {
    const t0 = process.hrtime.bigint();
    await call();
    out[i] = Number(process.hrtime.bigint() - t0) / 1e3;
  }
  return out.subarray(0, i);
}

/** n calls with `inflight` outstanding at all times over one channel. */
async function throughput(call: () => Promise<unknown>, n: number, inflight: number, maxMs: number): Promise<{ calls: number; seconds: number }> {
  let started = 0;
  let done = 0;
  const t0 = process.hrtime.bigint();
  const deadline = Date.now() + maxMs;
  const worker = async () => {
    while (started < n && (started % 256 !== 0 || Date.now() < deadline)) {
      started++;
      await call();
      done++;
    }
  };
  await Promise.all(Array.from({ length: inflight }, worker));
  return { calls: done, seconds: Number(process.hrtime.bigint() - t0) / 1e9 };
}

const cpuUsageSeconds = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1e6;

export const unary: Scenario = {
  name: 'unary',
  summary: 'p50/p99 latency of sequential unary calls and throughput with N in flight on one channel',

  async prepare(daemon) {
    // Content.Info needs a blob that exists; gc.root keeps containerd's collector off it.
    const client = daemon.client(namespace);
    try {
      await writeBlob(client, probe, { ref: 'bench-probe', expected: probeDigest, labels: { 'containerd.io/gc.root': 'bench' } });
    } finally {
      client.close();
    }
  },

  async round(daemon, opts, progress) {
    const client = daemon.client(namespace);
    const out: Measurement[] = [];
    try {
      for (const m of methods) {
        const call = () => m.call(client);
        for (let i = 0; i < opts.warmup; i++) await call();
        const lat = await latencies(call, opts.calls, opts.maxSeconds * 1000);
        const p50 = percentile(lat, 50);
        const p99 = percentile(lat, 99);
        const cpu0 = daemon.cpuSeconds();
        const client0 = process.cpuUsage();
        const t = await throughput(call, opts.calls, opts.inflight, opts.maxSeconds * 1000);
        const daemonCpu = daemon.cpuSeconds() - cpu0;
        const clientCpu = cpuUsageSeconds(process.cpuUsage(client0));
        const rate = t.calls / t.seconds;
        out.push(
          { metric: `${m.name} p50`, unit: 'µs', better: 'lower', value: p50 },
          { metric: `${m.name} p99`, unit: 'µs', better: 'lower', value: p99 },
          { metric: `${m.name} x${opts.inflight}`, unit: 'calls/s', better: 'higher', value: rate },
          { metric: `${m.name} daemon CPU`, unit: 'µs/call', better: 'lower', value: (daemonCpu / t.calls) * 1e6 },
        );
        progress(
          `${m.name}: p50 ${fmt(p50)} µs, p99 ${fmt(p99)} µs (${lat.length} calls); ` +
            `x${opts.inflight}: ${fmt(rate)} calls/s, daemon ${fmt(daemonCpu / t.seconds)} cores, client ${fmt(clientCpu / t.seconds)} cores`,
        );
      }
    } finally {
      client.close();
    }
    return out;
  },
};
