import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MS_BIND, mount, umount2 } from '../native/index.ts';
import { repo, startBerthd, type Berthd } from './harness.ts';
import { loadRunImage } from './run-image.ts';

/**
 * A task bundle that no task owns — what a berthd killed in the middle of Tasks.Create leaves —
 * must not block the next create of that id: berthd cleans it up (unmounting its rootfs first,
 * never removing files across a mount) and creates the task.
 */
describe('a task bundle left behind', () => {
  let b: Berthd;
  let image: string;
  const ns = 'leftover';
  const berth = (args: string[]) => b.berth(['-n', ns, ...args]);
  const mountsUnder = (dir: string) => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.split(' ')[4]?.startsWith(dir));
  const outside = mkdtempSync('/tmp/berth-leftover-');

  beforeAll(async () => {
    b = await startBerthd();
    image = await loadRunImage(b, { ns });
  }, 60_000);
  afterAll(async () => {
    await b?.cleanup();
    rmSync(outside, { recursive: true, force: true });
  });

  it('is removed by the next create of its id, without touching what was mounted on its rootfs', () => {
    const bundle = join(b.state, 'io.containerd.runtime.v2.task', ns, 'left');
    mkdirSync(join(bundle, 'rootfs'), { recursive: true });
    writeFileSync(join(bundle, 'config.json'), '{}');
    // what a crashed Create leaves: the shim's address (nobody listens there any more) and a mounted rootfs
    writeFileSync(join(bundle, 'bootstrap.json'), JSON.stringify({ version: 2, address: `unix://${join(outside, 'gone.sock')}`, protocol: 'grpc' }));
    writeFileSync(join(bundle, 'shim-binary-path'), join(repo, 'bin', 'berth-shim-runc-v2'));
    writeFileSync(join(outside, 'keep'), 'not the container\'s');
    mount(outside, join(bundle, 'rootfs'), null, MS_BIND);
    try {
      expect(mountsUnder(bundle)).toHaveLength(1);
      const r = berth(['run', '--rm', image, 'left', 'echo', 'hello']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toBe('hello\n');
    } finally {
      try {
        umount2(join(bundle, 'rootfs'));
      } catch {
        // unmounted by the cleanup, as it should be
      }
    }
    expect(readFileSync(join(outside, 'keep'), 'utf8')).toBe('not the container\'s');
    expect(mountsUnder(bundle)).toEqual([]);
    expect(existsSync(bundle)).toBe(false);
    expect(berth(['containers', 'ls', '-q']).stdout).toBe('');
  }, 60_000);
});
