import type { Cleanup } from './cleanup.ts';
import type { Daemon } from './setup.ts';
import type { Measurement } from './stats.ts';

export interface BenchOptions {
  rounds: number;
  /** unary: measured calls per method, for latency and again for throughput */
  calls: number;
  /** unary: calls made before measuring */
  warmup: number;
  /** unary: calls in flight for the throughput figure */
  inflight: number;
  /** unary: a measurement stops early after this long */
  maxSeconds: number;
  /** ingest: blob size in MB (10^6 bytes) */
  ingestMB: number;
  /** ingest: blobs written per round and daemon */
  ingestRuns: number;
  /** run: the OCI runtime the containers run on (crun: both daemons run where the cgroup2 mount is hidden) */
  ociRuntime: 'runc' | 'crun';
  /** run: also the memory of 50 sleeping containers, one shim each and grouped */
  runMemory: boolean;
  /** pod: a crictl binary to time pod starts through as well */
  crictl?: string;
  /** density: how many containers, one measurement each */
  containers: number[];
}

/**
 * A benchmark: prepare once per daemon, then one round at a time, daemons alternating. What
 * prepare registers on `cleanup` runs at teardown, before the daemons stop, even after a failure.
 */
export interface Scenario {
  name: string;
  summary: string;
  /** the daemons' CRI plugins must be on */
  needsCri?: boolean;
  prepare?(daemon: Daemon, opts: BenchOptions, cleanup: Cleanup): Promise<void>;
  round(daemon: Daemon, opts: BenchOptions, progress: (line: string) => void): Promise<Measurement[]>;
}
