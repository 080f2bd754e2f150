/** A containerd Mount: what a snapshotter returns and the tasks API carries as a rootfs. */
export interface Mount {
  /** e.g. "overlay", "bind" */
  type: string;
  /** e.g. "overlay", or the directory to bind */
  source: string;
  /** where it goes below the mount point; absent for the mount point itself */
  target?: string;
  /** e.g. ["ro", "rbind"] or ["workdir=…", "upperdir=…", "lowerdir=a:b"] */
  options: readonly string[];
}
