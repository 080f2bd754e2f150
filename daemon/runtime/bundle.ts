import { promises as fs, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MNT_DETACH, umount2 } from '../../native/index.ts';
import { isRunning } from './process.ts';

/** The directory, under the state and root dirs, that runtime v2 keeps its tasks in (containerd's name). */
export const runtimeDirName = 'io.containerd.runtime.v2.task';

/**
 * A task's bundle: `<state>/io.containerd.runtime.v2.task/<ns>/<id>` holding config.json (the
 * container's spec, verbatim), rootfs/ (the snapshot is mounted there: by berthd for its own runc
 * tasks, by the shim otherwise) and `work`, a link to the task's persistent work dir under the
 * root. For a shim task the daemon writes `bootstrap.json` (how to reach the shim) and
 * `shim-binary-path` after the shim started; everything needed to find a running container again
 * after a daemon restart is in here.
 */
export class Bundle {
  constructor(
    readonly path: string,
    readonly workDir: string,
    readonly namespace: string,
    readonly id: string,
  ) {}

  static at(state: string, root: string, namespace: string, id: string): Bundle {
    return new Bundle(join(state, runtimeDirName, namespace, id), join(root, runtimeDirName, namespace, id), namespace, id);
  }

  /**
   * Makes the bundle with synchronous calls: a few metadata operations of microseconds each
   * (no fsync), where each asynchronous one would wait its turn in libuv's thread pool on the path
   * of every task create.
   */
  async create(spec: Uint8Array): Promise<void> {
    mkdirSync(join(this.path, '..'), { recursive: true, mode: 0o711 });
    mkdirSync(this.path, { mode: 0o700 });
    try {
      mkdirSync(this.workDir, { recursive: true, mode: 0o711 });
      writeFileSync(join(this.path, 'config.json'), spec, { mode: 0o600 });
      mkdirSync(join(this.path, 'rootfs'), { mode: 0o711 });
      symlinkSync(this.workDir, join(this.path, 'work'));
    } catch (err) {
      await this.remove();
      throw err;
    }
  }

  async writeBootstrap(address: string, protocol: string, binary: string): Promise<void> {
    const tmp = join(this.path, '.bootstrap.json');
    await fs.writeFile(tmp, JSON.stringify({ version: 2, address, protocol }));
    await fs.rename(tmp, join(this.path, 'bootstrap.json'));
    await fs.writeFile(join(this.path, 'shim-binary-path'), binary);
  }

  async readBootstrap(): Promise<{ address: string; protocol: string; binary?: string }> {
    const doc = JSON.parse(await fs.readFile(join(this.path, 'bootstrap.json'), 'utf8')) as { address: string; protocol: string };
    const binary = await fs.readFile(join(this.path, 'shim-binary-path'), 'utf8').catch(() => undefined);
    return { address: doc.address, protocol: doc.protocol, binary };
  }

  /**
   * The address a shim writes into the bundle when it starts serving it (docs/shim.md), before
   * berthd writes bootstrap.json; undefined when there is none.
   */
  async shimAddress(): Promise<string | undefined> {
    return (await fs.readFile(join(this.path, 'address'), 'utf8').catch(() => undefined))?.trim() || undefined;
  }

  /**
   * The pid of the container's init (the `init.pid` the OCI runtime wrote for the shim) while a
   * process with that pid runs; undefined otherwise. A reused pid reads as alive: callers use this
   * only to keep a bundle they would otherwise remove.
   */
  async liveInitPid(): Promise<number | undefined> {
    const pid = Number.parseInt(await fs.readFile(join(this.path, 'init.pid'), 'utf8').catch(() => ''), 10);
    return isRunning(pid) ? pid : undefined;
  }

  /**
   * Unmounts whatever is still mounted on rootfs (a shim that died leaves its mounts), then
   * removes the bundle and the work dir. A recursive rm would descend into a mounted rootfs
   * and delete the container's files, so it runs only once rootfs is an empty directory.
   */
  async remove(): Promise<void> {
    const rootfs = join(this.path, 'rootfs');
    for (let i = 0; i < 32; i++) {
      try {
        umount2(rootfs, 0);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EINVAL' || code === 'ENOENT') break;
        if (code === 'EBUSY') umount2(rootfs, MNT_DETACH);
        else throw err;
      }
    }
    await fs.rmdir(rootfs).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    await fs.rm(this.path, { recursive: true, force: true });
    await fs.rm(this.workDir, { recursive: true, force: true });
  }

  /** Every bundle of a namespace dir found on disk (names starting with '.' are skipped, as containerd does). */
  static async list(state: string, root: string): Promise<Bundle[]> {
    const out: Bundle[] = [];
    const base = join(state, runtimeDirName);
    for (const ns of await fs.readdir(base).catch(() => [] as string[])) {
      if (ns.startsWith('.')) continue;
      for (const id of await fs.readdir(join(base, ns)).catch(() => [] as string[])) {
        if (!id.startsWith('.')) out.push(Bundle.at(state, root, ns, id));
      }
    }
    return out;
  }
}
