import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { BerthError } from '../../core/errors.ts';
import { diskUsage, type Mount, type SnapshotDirs, type Snapshotter, type Usage } from './snapshotter.ts';

/**
 * The copying backend: works on any filesystem, at the price of a full copy per snapshot. A
 * snapshot's directory is its whole tree: Prepare copies the parent's tree into it, and mounts
 * are plain binds (a view binds its parent, read-only, as nothing is copied for it).
 */
export class NativeSnapshotter implements Snapshotter {
  constructor(readonly root: string) {}

  async prepare(dir: string, parents: readonly string[]): Promise<void> {
    await fs.chmod(dir, 0o755);
    if (parents.length > 0) await copyTree(parents[0]!, dir);
  }

  async view(dir: string): Promise<void> {
    await fs.chmod(dir, 0o755);
  }

  mounts(s: SnapshotDirs): Mount[] {
    const source = s.kind === 'view' && s.parents.length > 0 ? s.parents[0]! : s.dir;
    return [{ type: 'bind', source, options: ['rbind', s.kind === 'view' ? 'ro' : 'rw'] }];
  }

  commit(s: SnapshotDirs): Promise<Usage> {
    return diskUsage(s.dir);
  }

  async usage(s: SnapshotDirs): Promise<Usage> {
    return s.kind === 'active' ? diskUsage(s.dir) : { size: 0, inodes: 0 };
  }
}

/**
 * Copies the contents of from into to exactly: ownership, modes, times, hard links, symlinks,
 * device nodes, xattrs (cp -a); reflinks where the filesystem has them. cp runs under
 * `setpriv --pdeathsig KILL` (util-linux, like mount) so that it dies with berthd: a copy that
 * outlived a killed daemon would go on writing into a directory the restarted one is removing.
 */
function copyTree(from: string, to: string): Promise<void> {
  const args = ['--pdeathsig', 'KILL', '--', 'cp', '-a', '--reflink=auto', '--', `${from}/.`, `${to}/`];
  return new Promise((resolve, reject) => {
    const child = spawn('setpriv', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', (err) => reject(new BerthError('Internal', `copying snapshot ${from}: ${err.message}`)));
    child.once('close', (code) =>
      code === 0 ? resolve() : reject(new BerthError('Internal', `copying snapshot ${from}: ${stderr.trim() || `cp exit status ${code}`}`)),
    );
  });
}
