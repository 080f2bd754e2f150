import * as fs from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BerthClient } from '../transport/client.ts';
import { collect } from '../transport/typed.ts';
import type { Berthd } from './support/harness.ts';
import { regularBody, startRaceRig } from './support/race-helper.ts';

/**
 * Diff of a running container's snapshot while the container races the walk: it keeps swapping
 * directories with symlinks to a host directory (renameat2 RENAME_EXCHANGE, from a static
 * helper built here). Nothing of the host directory may reach a layer or an error.
 */

/** The bodies of the regular-file entries of an uncompressed tar, by name. */
function regularFiles(tar: Buffer): Map<string, Buffer[]> {
  const files = new Map<string, Buffer[]>();
  for (let at = 0; at + 512 <= tar.length && tar[at] !== 0; ) {
    const field = (from: number, len: number) =>
      tar
        .subarray(at + from, at + from + len)
        .toString('latin1')
        .replace(/\0.*$/s, '');
    const size = Number.parseInt(field(124, 12).trim() || '0', 8);
    const name = field(345, 155) ? `${field(345, 155)}/${field(0, 100)}` : field(0, 100);
    if (field(156, 1) === '0' || field(156, 1) === '') files.set(name, [...(files.get(name) ?? []), tar.subarray(at + 512, at + 512 + size)]);
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}

describe('Diff of a live container that swaps directories with symlinks to the host and a file with a device', () => {
  let b: Berthd;
  let c: BerthClient;
  let image: string;
  let scratch: string;
  const marker = `HOST-MARKER-${process.pid}`;
  const secret = `host secret ${process.pid}`;

  let close: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    ({ b, image, scratch, close } = await startRaceRig('/tmp/berth-diff-live-'));
    c = b.client();
    fs.mkdirSync(join(scratch, 'host', 'sub'), { recursive: true });
    fs.writeFileSync(join(scratch, 'host', marker), secret);
    fs.writeFileSync(join(scratch, 'host', 'sub', `${marker}-deeper`), secret);
  }, 60_000);

  afterAll(async () => {
    await close?.();
  });

  const snapshotter = 'overlayfs';

  it('200 diffs (overlay fast path and two-tree compare) hold nothing of the host directory and open no device', async () => {
    const run = b.berth([
      'run',
      '-d',
      '--null-io',
      '--mount',
      `type=bind,src=${join(scratch, 'helper')},dst=/helper,options=rbind:ro`,
      image,
      'racer',
      '/helper/race',
      join(scratch, 'host'),
    ]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const right = (await c.snapshots.Mounts({ snapshotter, key: 'racer' })).mounts;
    const upper = right[0]!.options.find((o) => o.startsWith('upperdir='))!.slice('upperdir='.length);
    for (let i = 0; !fs.existsSync(join(upper, 'race', 's7')); i++) {
      if (i > 100) throw new Error('the race helper did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
    const { parent } = (await c.snapshots.Stat({ snapshotter, key: 'racer' })).info!;
    const left = (await c.snapshots.View({ snapshotter, key: 'racer-parent', parent })).mounts;

    const leaks: string[] = [];
    let layers = 0;
    // the walk sees the container's own directory (both names may be symlinks when it looks)
    let withInner = 0;
    let regularSeen = 0;
    for (let i = 0; i < 200; i++) {
      // mostly the upperdir alone (left is the parent); every fourth the whole mounted tree against nothing
      const trees = i % 4 === 3;
      const req = { left: trees ? [] : left, right, media_type: 'application/vnd.oci.image.layer.v1.tar+gzip', labels: { 'containerd.io/gc.root': 'test' } };
      let digest: string;
      try {
        digest = (await c.diff.Diff(req)).diff!.digest;
      } catch (err) {
        // the walk may meet an entry that changed under it (often, with eight pairs swapping): it
        // fails then, and the error must not name a host file
        const message = (err as Error).message;
        if (message.includes(marker) || message.includes(secret)) leaks.push(`diff ${i} error: ${message}`);
        continue;
      }
      layers++;
      const parts = await collect(c.content.Read({ digest, offset: 0, size: 0 }));
      const tarBytes = gunzipSync(Buffer.concat(parts.map((p) => p.data)));
      const layer = tarBytes.toString('latin1');
      const files = regularFiles(tarBytes);
      for (const [name, bodies] of files) {
        if (!/^race\/[ab]\d$/.test(name)) continue;
        for (const body of bodies) {
          if (body.toString() === regularBody) regularSeen++;
          else leaks.push(`diff ${i}: ${name} holds ${JSON.stringify(body.toString())}, read from a device`);
        }
      }
      if (/race\/[ds]\d\/inner/.test(layer)) withInner++;
      if (layer.includes(marker) || layer.includes(secret)) leaks.push(`diff ${i} (${trees ? 'trees' : 'overlay'}) holds the host directory`);
    }
    expect(leaks).toEqual([]);
    expect(layers).toBeGreaterThan(20);
    expect(withInner).toBeGreaterThan(10);
    expect(regularSeen).toBeGreaterThan(10);
    // the two-tree compare's temporary mounts are gone
    expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(join(b.state, 'diff'));
  }, 600_000);
});
