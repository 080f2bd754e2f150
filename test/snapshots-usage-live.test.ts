import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BerthClient } from '../transport/client.ts';
import type { Berthd } from './support/harness.ts';
import { startRaceRig } from './support/race-helper.ts';

/**
 * Snapshots.Usage of a running container's snapshot while the container keeps swapping its
 * directories with symlinks to a big host directory: the answer counts the snapshot's own files,
 * never the host's, and the daemon keeps serving other calls meanwhile.
 */

const hostFiles = 5000;

describe('Usage of a live container that swaps directories with symlinks to the host', () => {
  let b: Berthd;
  let c: BerthClient;
  let image: string;
  let scratch: string;

  let close: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    ({ b, image, scratch, close } = await startRaceRig('/tmp/berth-usage-live-'));
    c = b.client();
    fs.mkdirSync(join(scratch, 'host'));
    for (let i = 0; i < hostFiles; i++) fs.writeFileSync(join(scratch, 'host', `f${i}`), 'x'.repeat(4096));
  }, 60_000);

  afterAll(async () => {
    await close?.();
  });

  const snapshotter = 'overlayfs';

  it("150 answers and more stay within the snapshot's own files, and other calls are served meanwhile", async () => {
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
    const { mounts } = await c.snapshots.Mounts({ snapshotter, key: 'racer' });
    const upper = mounts[0]!.options.find((o) => o.startsWith('upperdir='))!.slice('upperdir='.length);
    for (let i = 0; !fs.existsSync(join(upper, 'race', 's7')); i++) {
      if (i > 100) throw new Error('the race helper did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
    // the snapshot holds a few dozen files (the racing ones, what runc made: about 50 inodes, 130 KB),
    // the host directory 5000 files of 4 KiB: an answer above these bounds counted host files
    const inodeBound = 1000;
    const sizeBound = 4 << 20;

    const over: string[] = [];
    let served = 0;
    let asking = true;
    const otherCalls = (async () => {
      while (asking) {
        await c.version.Version({});
        served++;
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    // the container wins the race rarely on a loaded machine: at least 150 answers and 40 seconds
    const until = Date.now() + 40_000;
    let asked = 0;
    for (; asked < 150 || Date.now() < until; asked++) {
      const u = await c.snapshots.Usage({ snapshotter, key: 'racer' });
      if (Number(u.inodes) > inodeBound || Number(u.size) > sizeBound) over.push(`usage ${asked}: ${u.inodes} inodes, ${u.size} bytes`);
    }
    asking = false;
    await otherCalls;
    expect(over).toEqual([]);
    expect(asked).toBeGreaterThanOrEqual(150);
    expect(served).toBeGreaterThan(10);
    // the container raced the walk to the end
    expect(b.berth(['tasks', 'ls']).stdout).toMatch(/^racer\s+\d+\s+RUNNING$/m);
  }, 600_000);
});
