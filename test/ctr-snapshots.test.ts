import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unmountAll } from '../native/mount.ts';
import { type Berthd, type Containerd, startBerthd, startContainerd } from './support/harness.ts';
import { normaliseCtr, startTogether } from './support/util.ts';

type Result = { code: number; stdout: string; stderr: string };

/**
 * containerd's ctr drives `ctr snapshots ...` against berthd and against a real containerd side
 * by side; exit codes and output must agree once times, label order and the daemons' own paths
 * and internal keys are blanked.
 */
describe('ctr snapshots against berthd and against containerd', () => {
  let berthd: Berthd;
  let containerd: Containerd;
  const mountBase = fs.mkdtempSync('/tmp/berth-ctr-snap-');
  const targets: string[] = [];

  beforeAll(async () => {
    [berthd, containerd] = await startTogether([startBerthd(), startContainerd()]);
  });
  afterAll(async () => {
    for (const t of targets) await unmountAll(t);
    await Promise.all([berthd?.cleanup(), containerd?.cleanup()]);
    fs.rmSync(mountBase, { recursive: true, force: true });
  });

  const ns = ['-n', 'snaps'];

  const normalise = (s: string) =>
    normaliseCtr(s, (x) =>
      x
        // containerd's messages name its internal keys <namespace>/<sequence>/<key>
        .replace(/\bsnaps\/\d+\//g, '')
        // the snapshotters' roots differ, and so may the ids under them
        .replace(/\/[^\s,:=]*\/snapshots\/\d+/g, 'SNAPSHOTS/ID'),
    );

  const both = (args: string[]) => ({ berth: berthd.ctr([...ns, 'snapshots', ...args]), containerd: containerd.ctr([...ns, 'snapshots', ...args]) });

  const same = (args: string[]) => {
    const r = both(args);
    const result = (x: Result) => ({ code: x.code, out: normalise(x.stdout), err: x.code === 0 ? '' : normalise(x.stderr) });
    expect(result(r.berth), `ctr snapshots ${args.join(' ')}\nberthd: ${r.berth.stderr}`).toEqual(result(r.containerd));
    return r;
  };

  /** Runs the line `ctr snapshots mounts` printed, as a user would paste it into a shell. */
  const mountWithShell = (line: string, target: string) => {
    targets.push(target);
    const r = spawnSync('sh', ['-c', line], { encoding: 'utf8' });
    expect(r.status, `${line}\n${r.stderr}`).toBe(0);
  };

  const newTarget = (name: string) => {
    const t = join(mountBase, name);
    fs.mkdirSync(t);
    return t;
  };

  it('prepare, commit and view, and their failures', () => {
    same(['prepare', 'base']);
    same(['prepare', 'base']); // already exists
    same(['commit', 'base-c', 'base']);
    same(['prepare', 'child', 'base-c']);
    same(['prepare', 'orphan', 'never-made']); // parent not found
    same(['prepare', 'active']);
    same(['prepare', 'on-active', 'active']); // parent not committed
    same(['view', 'view-1', 'base-c']);
    same(['view', 'view-0']);
    same(['commit', 'view-c', 'view-1']); // a view is not active
    same(['commit', 'base-c', 'child']); // the name is taken
    same(['commit', 'x', 'never-made']);
  });

  it('ls, tree, info, label and usage', () => {
    same(['ls']);
    same(['list']);
    same(['tree']);
    same(['info', 'child']);
    same(['info', 'base-c']);
    same(['info', 'view-1']);
    same(['info', 'never-made']);
    same(['label', 'child', 'team=red', 'flag']);
    same(['label', 'child']);
    same(['label', 'child', 'team=']);
    same(['info', 'child']);
    same(['label', 'never-made', 'x=y']);
    same(['usage']);
    same(['usage', '-b']);
    same(['usage', 'child', 'base-c']);
    same(['usage', 'never-made']);
  });

  it('mounts: the same mounts, and the printed line mounts in a shell', () => {
    for (const key of ['child', 'active', 'view-1', 'view-0']) {
      const r = same(['mounts', '/mnt/target', key]);
      // normalise sorts k=v lists; the order of the options must agree too
      const names = (x: Result) =>
        x.stdout
          .replace(/^.* -o /, '')
          .trim()
          .split(',')
          .map((o) => o.split('=')[0]);
      expect(names(r.berth)).toEqual(names(r.containerd));
    }
    same(['mounts', '/mnt/target', 'base-c']); // committed: no mounts
    same(['mounts', '/mnt/target', 'never-made']);

    // write through each daemon's active snapshot, then read it back through a view
    for (const [name, ctr] of [
      ['berth', berthd.ctr],
      ['containerd', containerd.ctr],
    ] as const) {
      const t = newTarget(`${name}-child`);
      const r = ctr([...ns, 'snapshots', 'mounts', t, 'child']);
      expect(r.stdout).toMatch(/^mount -t overlay overlay \S+ -o \S+\n$/);
      mountWithShell(r.stdout, t);
      fs.writeFileSync(join(t, 'hello'), Buffer.alloc(5000, 7));
      expect(spawnSync('umount', [t]).status).toBe(0);
    }
    same(['usage', '-b', 'child']); // the same blocks on both
    same(['commit', 'child-c', 'child']);
    same(['view', 'view-2', 'child-c']);
    same(['mounts', '/mnt/target', 'view-2']);
    for (const [name, ctr] of [
      ['berth', berthd.ctr],
      ['containerd', containerd.ctr],
    ] as const) {
      const t = newTarget(`${name}-view`);
      mountWithShell(ctr([...ns, 'snapshots', 'mounts', t, 'view-2']).stdout, t);
      expect(fs.readFileSync(join(t, 'hello'))).toEqual(Buffer.alloc(5000, 7));
      expect(() => fs.writeFileSync(join(t, 'x'), '')).toThrow(/EROFS/);
      expect(spawnSync('umount', [t]).status).toBe(0);
    }
    same(['usage', 'child-c', 'view-2']);
  });

  it('rm, with children, missing keys, and several at once', () => {
    // views first: ctr gives them no gc.root, so either daemon's collector may have taken some
    // of them already; what must hold is that none is left and nothing else failed
    for (const ctr of [berthd.ctr, containerd.ctr]) {
      const r = ctr([...ns, 'snapshots', 'rm', 'view-0', 'view-1', 'view-2']);
      if (r.code !== 0) expect(r.stderr).toMatch(/^ctr: failed to remove "view-\d": snapshot view-\d does not exist: not found\n$/);
      expect(ctr([...ns, 'snapshots', 'ls']).stdout).not.toMatch(/^view-/m);
    }
    same(['rm', 'base-c']); // has a child
    same(['rm', 'never-made']);
    same(['rm', 'child-c', 'base-c']);
    same(['delete', 'active']);
    same(['ls']);
    same(['tree']);
  });

  it('the native snapshotter, and one that is not loaded', () => {
    const native = (args: string[]) => same(['--snapshotter', 'native', ...args]);
    native(['prepare', 'n1']);
    native(['commit', 'n1-c', 'n1']);
    native(['prepare', 'n2', 'n1-c']);
    native(['view', 'n3', 'n1-c']);
    native(['ls']);
    native(['tree']);
    native(['mounts', '/mnt/target', 'n2']);
    native(['mounts', '/mnt/target', 'n3']);
    native(['rm', 'n3', 'n2', 'n1-c']);
    native(['ls']);
    same(['ls']); // the overlayfs snapshots are elsewhere
    same(['--snapshotter', 'zfs-or-whatever', 'ls']);
  });
});
