/**
 * Names berthd, its shims and berth's CLI agree on: the environment and files through which a
 * shim finds the daemon's state and leaves what the daemon reads back, and the annotation that
 * groups containers under one shim.
 */

/** The environment variable naming the daemon's state directory to a shim. */
export const stateEnv = 'BERTH_STATE';

/** containerd's runc shim annotation: containers naming the same group share one shim. */
export const groupAnnotation = 'io.containerd.runc.v2.group';

// Files the shim keeps in a bundle.
export const bundleFiles = {
  address: 'address',
  /** the Any that `start` read on stdin, verbatim (absent when there was none) */
  runtimeOptions: 'runtime-options.pb',
  /** {binary_name, root} resolved at Create, for the `delete` subcommand */
  options: 'options.json',
  initPid: 'init.pid',
  runcLog: 'log.json',
  shimLog: 'shim.log',
} as const;
