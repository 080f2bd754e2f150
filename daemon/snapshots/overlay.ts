import { existsSync, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { mountAll, unmountAll } from '../../native/mount.ts';
import { SkipPlugin } from '../plugin.ts';
import { diskUsage, type Mount, type SnapshotDirs, type Snapshotter, type Usage } from './snapshotter.ts';

/**
 * The overlayfs backend, containerd's default: each snapshot directory holds `fs` (the upper
 * directory of an active snapshot, the files of a committed one) and, for active snapshots only,
 * `work` (overlayfs's work directory). Stacking is the kernel's: an active snapshot mounts as an
 * overlay of its own `fs` over its parents' `fs` directories.
 */
export class OverlaySnapshotter implements Snapshotter {
  private constructor(
    readonly root: string,
    private readonly indexOff: boolean,
  ) {}

  /** Checks that overlayfs works on root's filesystem (SkipPlugin if not) and makes the backend. */
  static async create(root: string): Promise<OverlaySnapshotter> {
    await checkOverlay(root);
    // index=off, as containerd sets it whenever the kernel has the parameter: with the index on,
    // a lower directory shared by two overlays cannot be mounted by the second one.
    return new OverlaySnapshotter(root, existsSync('/sys/module/overlay/parameters/index'));
  }

  async prepare(dir: string, parents: readonly string[]): Promise<void> {
    await this.makeFs(dir, parents);
    await fs.mkdir(join(dir, 'work'), { mode: 0o711 });
  }

  async view(dir: string, parents: readonly string[]): Promise<void> {
    await this.makeFs(dir, parents);
  }

  /** fs is 0755 and owned like the parent's fs, so the merged root keeps its owner. */
  private async makeFs(dir: string, parents: readonly string[]) {
    const upper = join(dir, 'fs');
    await fs.mkdir(upper, { mode: 0o755 });
    await fs.chmod(upper, 0o755); // whatever the umask
    await this.ownLikeParent(upper, parents);
  }

  private async ownLikeParent(upper: string, parents: readonly string[]) {
    if (parents.length === 0) return;
    const st = await fs.stat(join(parents[0]!, 'fs'));
    await fs.lchown(upper, st.uid, st.gid);
  }

  /** The upper directory is all an active snapshot has of its own: only its owner follows the parent. */
  async rebase(dir: string, parents: readonly string[]): Promise<void> {
    await this.ownLikeParent(join(dir, 'fs'), parents);
  }

  mounts(s: SnapshotDirs): Mount[] {
    const fsOf = (d: string) => join(d, 'fs');
    if (s.parents.length === 0) {
      return [{ type: 'bind', source: fsOf(s.dir), options: [s.kind === 'view' ? 'ro' : 'rw', 'rbind'] }];
    }
    if (s.kind === 'view' && s.parents.length === 1) {
      return [{ type: 'bind', source: fsOf(s.parents[0]!), options: ['ro', 'rbind'] }];
    }
    const options: string[] = [];
    if (this.indexOff) options.push('index=off');
    if (s.kind === 'active') options.push(`workdir=${join(s.dir, 'work')}`, `upperdir=${fsOf(s.dir)}`);
    options.push(`lowerdir=${s.parents.map(fsOf).join(':')}`);
    return [{ type: 'overlay', source: 'overlay', options }];
  }

  commit(s: SnapshotDirs): Promise<Usage> {
    return diskUsage(join(s.dir, 'fs'));
  }

  async usage(s: SnapshotDirs): Promise<Usage> {
    return s.kind === 'active' ? diskUsage(join(s.dir, 'fs')) : { size: 0, inodes: 0 };
  }
}

/**
 * A real overlay mount with two lower directories (the smallest stack that needs overlayfs
 * proper) in a scratch directory under root, then unmounted and removed. Any failure means
 * this filesystem or kernel cannot host the backend.
 */
async function checkOverlay(root: string): Promise<void> {
  // a check cut short by a crash may have left its scratch directory, even mounted
  for (const old of (await fs.readdir(root)).filter((n) => n.startsWith('overlay-check-'))) {
    await unmountAll(join(root, old, 'merged'));
    await fs.rm(join(root, old), { recursive: true, force: true });
  }
  const scratch = await fs.mkdtemp(join(root, 'overlay-check-'));
  const path = (name: string) => join(scratch, name);
  try {
    for (const d of ['lower1', 'lower2', 'upper', 'work', 'merged']) await fs.mkdir(path(d));
    await fs.writeFile(path('lower1/file'), 'lower1');
    const options = [`lowerdir=${path('lower2')}:${path('lower1')}`, `upperdir=${path('upper')}`, `workdir=${path('work')}`];
    try {
      await mountAll([{ type: 'overlay', source: 'overlay', options }], path('merged'));
    } catch (err) {
      throw new SkipPlugin(`overlayfs cannot be mounted on ${root}: ${(err as Error).message}`);
    }
    try {
      const seen = await fs.readFile(path('merged/file'), 'utf8');
      if (seen !== 'lower1') throw new SkipPlugin(`overlayfs on ${root} does not show the lower directories' files`);
    } finally {
      await unmountAll(path('merged'));
    }
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
  }
}
