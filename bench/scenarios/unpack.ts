import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { BerthClient } from '../../transport/client.ts';
import { writeBlob } from '../../transport/clients/content.ts';
import { sha256 } from '../content.ts';
import type { Scenario } from '../scenario.ts';
import { type Daemon, syncDisks } from '../setup.ts';
import { fmt, type Measurement } from '../stats.ts';
import { namespace } from './unary.ts';

/**
 * Diff.Apply of one ~120 MB (uncompressed) gzip layer of ~2,400 files onto a fresh snapshot
 * (overlayfs, no parent: a bind mount, as for an image's first layer). Timed: the Apply call
 * alone; the figure is uncompressed MB applied per second.
 */
const gcRoot = { 'containerd.io/gc.root': 'bench' };
const mediaType = 'application/vnd.oci.image.layer.v1.tar+gzip';

let layer: { blob: Buffer; digest: string; uncompressed: number } | undefined;

/** A deterministic layer: directories of text-like files (gzip ratio ~2.5, like a real rootfs). */
export function makeLayer(targetBytes = 120e6) {
  if (layer) return layer;
  let seed = 42;
  // mulberry32
  const rand = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  const words = Array.from({ length: 65536 }, () => Math.floor(rand() * 2 ** 40).toString(36));
  // random words, so that no file repeats another (gzip then gets ~2.5x, as on real layers)
  const pool = Buffer.from(Array.from({ length: 2_000_000 }, () => words[Math.floor(rand() * words.length)]).join(' '));
  const fill = (size: number) => {
    const out = Buffer.allocUnsafe(size);
    for (let at = 0; at < size; ) {
      const from = Math.floor(rand() * (pool.length - 64));
      at += pool.copy(out, at, from, from + Math.min(64, size - at));
    }
    return out;
  };
  const parts: Buffer[] = [];
  const header = (name: string, size: number, type: string) => {
    const b = Buffer.alloc(512);
    b.write(name, 0, 100);
    b.write(`${(type === '5' ? 0o755 : 0o644).toString(8).padStart(7, '0')}\0`, 100);
    b.write('0000000\0', 108);
    b.write('0000000\0', 116);
    b.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
    b.write(`${(1_700_000_000).toString(8).padStart(11, '0')}\0`, 136);
    b.write(type, 156);
    b.write('ustar\u000000', 257, 'latin1');
    b.fill(0x20, 148, 156);
    let sum = 0;
    for (const x of b) sum += x;
    b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    return b;
  };
  let total = 0;
  for (let dir = 0; total < targetBytes; dir++) {
    parts.push(header(`d${dir}/`, 0, '5'));
    for (let i = 0; i < 60 && total < targetBytes; i++) {
      const size = Math.floor(rand() * 100_000) + 100;
      const body = fill(size);
      parts.push(header(`d${dir}/f${i}`, size, '0'), body, Buffer.alloc((512 - (size % 512)) % 512));
      total += size + 512;
    }
  }
  parts.push(Buffer.alloc(1024));
  const tar = Buffer.concat(parts);
  const blob = gzipSync(tar);
  layer = { blob, digest: sha256(blob), uncompressed: tar.length };
  return layer;
}

async function applyOnce(client: BerthClient, l: NonNullable<typeof layer>): Promise<number> {
  const snapshots = client.snapshots;
  const key = `bench-unpack-${randomUUID()}`;
  const { mounts } = await snapshots.Prepare({ snapshotter: 'overlayfs', key, parent: '', labels: gcRoot });
  try {
    syncDisks();
    const t0 = process.hrtime.bigint();
    const res = await client.diff.Apply({
      diff: { media_type: mediaType, digest: l.digest, size: l.blob.length },
      mounts,
    });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (!res.applied?.digest) throw new Error('Apply returned no descriptor');
    return ms;
  } finally {
    await snapshots.Remove({ snapshotter: 'overlayfs', key });
    syncDisks();
  }
}

export const unpack: Scenario = {
  name: 'unpack',
  summary: 'MB/s (uncompressed) applied by Diff.Apply: one ~120 MB gzip layer of ~2,400 files onto a fresh snapshot',

  async prepare(daemon: Daemon) {
    const l = makeLayer();
    const client = daemon.client(namespace);
    try {
      await writeBlob(client, l.blob, { ref: `bench-unpack-${l.digest}`, expected: l.digest, labels: gcRoot });
      await applyOnce(client, l); // untimed: the first apply on a fresh filesystem is slower
    } finally {
      client.close();
    }
  },

  async round(daemon, opts, progress) {
    const l = makeLayer();
    const client = daemon.client(namespace);
    const rates: number[] = [];
    try {
      for (let run = 0; run < opts.ingestRuns; run++) rates.push(l.uncompressed / 1e6 / ((await applyOnce(client, l)) / 1000));
    } finally {
      client.close();
    }
    progress(`${fmt(l.uncompressed / 1e6)} MB layer: ${rates.map(fmt).join(', ')} MB/s`);
    return rates.map((value): Measurement => ({ metric: `Diff.Apply ${fmt(l.uncompressed / 1e6)} MB layer`, unit: 'MB/s', better: 'higher', value }));
  },
};
