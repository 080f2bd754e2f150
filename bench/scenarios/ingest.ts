import { randomBytes, randomUUID } from 'node:crypto';
import { sha256, timedWrite, waitGone } from '../content.ts';
import type { Scenario } from '../scenario.ts';
import { type Daemon, syncDisks } from '../setup.ts';
import { fmt, type Measurement } from '../stats.ts';
import { namespace } from './unary.ts';

/**
 * Writes one blob of fresh random bytes (so it is new to the daemon and really gets written),
 * then deletes it and waits until its file is gone. Only the Write stream is timed: the
 * random bytes, their digest, the delete, containerd's GC and the writeback are outside it.
 */
async function ingestOnce(daemon: Daemon, size: number): Promise<{ ms: number; cpuSeconds: number }> {
  const data = randomBytes(size);
  const digest = sha256(data);
  const client = daemon.client(namespace);
  try {
    syncDisks();
    const cpu0 = daemon.cpuSeconds();
    const ms = await timedWrite(client, data, `bench-ingest-${randomUUID()}`, digest);
    const cpuSeconds = daemon.cpuSeconds() - cpu0;
    // containerd drops the bytes in its next GC after the delete; wait for that here so
    // it does not land in a later run.
    await client.content.Delete({ digest });
    if (!(await waitGone(daemon.blobPath(digest)))) throw new Error(`${daemon.blobPath(digest)} still on disk 15 s after Delete`);
    syncDisks();
    return { ms, cpuSeconds };
  } finally {
    client.close();
  }
}

export const ingest: Scenario = {
  name: 'ingest',
  summary: 'MB/s to write one fresh blob of random bytes through Content.Write (1 MiB WRITEs, lockstep)',

  async prepare(daemon, opts) {
    // One untimed blob first: the first write into a fresh filesystem and daemon is slower.
    await ingestOnce(daemon, Math.round(opts.ingestMB * 1e6));
  },

  async round(daemon, opts, progress) {
    const size = Math.round(opts.ingestMB * 1e6);
    const rates: number[] = [];
    const cpuPerMB: number[] = [];
    for (let run = 0; run < opts.ingestRuns; run++) {
      const { ms, cpuSeconds } = await ingestOnce(daemon, size);
      rates.push(size / 1e6 / (ms / 1000));
      cpuPerMB.push((cpuSeconds * 1000) / (size / 1e6));
    }
    progress(`${opts.ingestMB} MB blob: ${rates.map(fmt).join(', ')} MB/s; daemon CPU ${cpuPerMB.map(fmt).join(', ')} ms/MB`);
    // Every run is a sample: the table shows the median over all runs of all rounds.
    const metric = `Content.Write ${opts.ingestMB} MB`;
    return [
      ...rates.map((value): Measurement => ({ metric, unit: 'MB/s', better: 'higher', value })),
      ...cpuPerMB.map((value): Measurement => ({ metric: `${metric} daemon CPU`, unit: 'ms/MB', better: 'lower', value })),
    ];
  },
};
