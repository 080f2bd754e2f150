import type { Command } from 'commander';
import type { Context } from '../context.ts';
import { ExitError } from '../errors.ts';
import { addFlags, type Flag, InvalidFlagValue } from '../flags.ts';
import { type ContainerFlags, containerFlagTable, defaultFifoDir } from '../spec/flags.ts';
import type { NetworkFlags } from '../spec/network.ts';

export interface RunFlags extends ContainerFlags, NetworkFlags {
  rm?: boolean;
  detach?: boolean;
  logUri?: string;
  nullIo?: boolean;
  logDriver: string;
  logOpt: string[];
  pull: string;
  shimGroup?: string;
  fifoDir: string;
}

/**
 * The label asking berthd to keep the container's log (daemon/logs): `--log-driver local` (the
 * default) with `--log-opt max-size=10m` and `max-file=3` as Docker spells them; undefined for
 * `--log-driver none`.
 */
export function logLabelValue(driver: string, opts: readonly string[]): string | undefined {
  if (driver === 'none') {
    if (opts.length > 0) throw new Error('--log-opt needs a log driver (not none)');
    return undefined;
  }
  if (driver !== 'local' && driver !== 'json-file') throw new Error(`--log-driver ${driver}: berth keeps logs with local (the default) or none`);
  const limits: { maxSize?: number; maxFiles?: number } = {};
  for (const opt of opts) {
    const [key, value = ''] = opt.split('=', 2) as [string, string?];
    if (key === 'max-size') {
      const m = /^(\d+)([kmg]?)b?$/i.exec(value);
      if (!m) throw new Error(`--log-opt max-size=${value}: give a size such as 10m, 512k or 1g`);
      limits.maxSize = Number(m[1]) * { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
    } else if (key === 'max-file') {
      if (!/^\d+$/.test(value) || Number(value) < 1) throw new Error(`--log-opt max-file=${value}: give a whole number of files, 1 or more`);
      limits.maxFiles = Number(value);
    } else {
      throw new Error(`--log-opt ${opt}: berth knows max-size and max-file`);
    }
  }
  return JSON.stringify(limits);
}

/**
 * containerd's runc shim annotation: containers naming the same group share one shim process.
 * It matters only for runtimes that run under a shim (e.g. containerd-shim-runc-v2, docs/shim.md);
 * berthd's own io.containerd.runc.v2 runs each container process under its own monitor.
 */
export const shimGroupAnnotation = 'io.containerd.runc.v2.group';

/**
 * Container label and spec annotation recording where a file-logged container's output goes.
 * `berth logs` trusts the label only when the spec carries the same annotation: ctr copies an
 * image's labels to its containers verbatim, but never into the spec's annotations.
 */
export const logUriLabel = 'io.berth.log-uri';

function pullPolicy(text: string): string {
  if (text !== 'missing' && text !== 'always' && text !== 'never') throw new InvalidFlagValue(`--pull ${text}: missing, always or never`);
  return text;
}

/** `--fifo-dir` for commands that make stdio FIFOs. */
export const fifoDirFlag: Flag = { flags: '--fifo-dir <dir>', description: 'directory for the stdio FIFOs', env: 'BERTH_FIFO_DIR', default: defaultFifoDir };

/** `berth run`'s flags, in help order (commander's definition and the fast path, ctl/fast-run.ts, both read this table). */
export const runFlags: readonly Flag[] = [
  {
    flags: '--rm',
    description: 'remove the container and its snapshot when it exits (or fails); berthd does it, also with -d and if this command is killed',
  },
  {
    flags: '-d, --detach',
    description:
      'start it, print its id and return; its output goes to its log (berth logs), or with --log-driver none to FIFOs left for tasks attach (output then blocks once 64 KiB wait unread)',
  },
  {
    flags: '--pull <when>',
    description: 'pull the image: missing (the default: when berthd does not have it), always, or never',
    default: 'missing',
    parse: pullPolicy,
  },
  { flags: '--log-uri <uri>', description: 'send stdout and stderr to file:///path or binary:///path' },
  {
    flags: '--log-driver <driver>',
    description: "local (the default: berthd keeps the container's output for berth logs, rotated by size) or none",
    default: 'local',
  },
  { flags: '--log-opt <key=value>', description: 'max-size=10m, max-file=3 (the defaults) for the local log driver (repeatable)', repeat: true },
  { flags: '--null-io', description: 'send all stdio to /dev/null' },
  {
    flags: '--shim-group <name>',
    description: `run the container in the one shim of group NAME (annotation ${shimGroupAnnotation}); only for runtimes that run under a shim, such as containerd-shim-runc-v2: berthd's own runc path gives each container its own monitor`,
  },
  fifoDirFlag,
  {
    flags: '--net <network>',
    description: 'bridge (the default network, the default), a network NAME (repeatable: one interface each), host or none',
    repeat: true,
  },
  { flags: '-p, --publish <port>', description: 'publish a container port on the host: [IP:]HOSTPORT:CONTAINERPORT[/tcp|udp] (repeatable)', repeat: true },
  { flags: '--ip <address>', description: "the container's IPv4 address on its first network" },
  { flags: '--dns <ip>', description: 'a DNS server for /etc/resolv.conf (repeatable)', repeat: true },
  { flags: '--dns-search <domain>', description: 'a DNS search domain (repeatable)', repeat: true },
  { flags: '--dns-option <option>', description: 'a resolv.conf option, e.g. ndots:2 (repeatable)', repeat: true },
  { flags: '--add-host <name:ip>', description: 'a line for /etc/hosts (repeatable)', repeat: true },
  ...containerFlagTable({ run: true }),
];

/**
 * `berth run IMAGE ID [CMD...]`: ctr run's RPC sequence (reference §4.2) — container, task,
 * Wait before Start, signals forwarded, Delete when the process ends — and berth's exit status
 * is the container's.
 */
export function register(program: Command, ctx: Context) {
  addFlags(
    program
      .command('run')
      .description("create a container from an image and run it, attached (exit status: the container's)")
      .argument('<image>', 'image name (unpacked first if need be)')
      .argument('<id>', 'container id')
      .argument('[command...]', "command and arguments (replace the image's entrypoint and cmd)")
      .passThroughOptions(),
    runFlags,
  ).action((image: string, id: string, command: string[], flags: RunFlags) => runCommand(ctx, image, id, command, flags));
}

/** What `berth run` does once its command line is parsed (by commander, or by the fast path). */
export async function runCommand(ctx: Context, image: string, id: string, command: string[], flags: RunFlags): Promise<void> {
  if (flags.tty && flags.logUri) throw new Error('--log-uri cannot be used with -t');
  if (flags.tty && flags.nullIo) throw new Error('--null-io cannot be used with -t');
  if (flags.shimGroup !== undefined) {
    if (flags.shimGroup === '') throw new Error('--shim-group needs a name');
    const other = flags.annotation.find((a) => a.startsWith(`${shimGroupAnnotation}=`) && a !== `${shimGroupAnnotation}=${flags.shimGroup}`);
    if (other) throw new Error(`--shim-group ${flags.shimGroup} contradicts --annotation ${other}`);
    flags.annotation = [...flags.annotation, `${shimGroupAnnotation}=${flags.shimGroup}`];
  }
  const code = await runContainer(ctx, image, id, command, flags);
  if (code !== 0) throw new ExitError(code);
  // as docker run -d: the id, for the next command
  if (flags.detach) process.stdout.write(`${id}\n`);
}

/**
 * berthd runs the container in one call (berth.services.run.v1.Run, see run.proto): it builds the
 * spec and makes container and task, and with --rm removes them itself once the process exits.
 * This process only opens the stdio, relays signals and terminal size, and reports the exit.
 * Against a daemon without that service (containerd), ctr's sequence of calls instead.
 */
async function runContainer(ctx: Context, image: string, id: string, command: string[], flags: RunFlags): Promise<number> {
  const c = await ctx.client();
  const [{ specFlags, labelArgs }, { specOptionsOf }, { ClientIO, normalizeLogUri, stdinIsDevNull }, session, { networkChoice }, { networkLabel, logLabel }] =
    await Promise.all([
      import('../spec/flags.ts'),
      import('../../core/spec/options.ts'),
      import('../io/stdio.ts'),
      import('../io/session.ts'),
      import('../spec/network.ts'),
      import('../../core/spec/names.ts'),
    ]);
  const { validateIdentifier } = await import('../../core/identifiers.ts');
  validateIdentifier(id);
  const network = networkChoice(flags);
  // --net host: the host's network namespace, as --net-host always did
  if (network.request.mode === 'host') flags.netHost = true;
  const relay = new session.SignalRelay();
  let io: import('../io/stdio.ts').ClientIO | undefined;
  try {
    const logUri = flags.logUri ? normalizeLogUri(flags.logUri) : undefined;
    if (logUri) flags.annotation = [...flags.annotation, `${logUriLabel}=${logUri}`];
    const spec = specOptionsOf(specFlags(flags, command));
    // berthd keeps the output (unless a log URI or null IO says where it goes); a detached run
    // then needs no FIFOs: nothing can stall on output nobody reads
    const log = logUri || flags.nullIo ? undefined : logLabelValue(flags.logDriver, flags.logOpt);
    const nullIo = flags.nullIo || (flags.detach && log !== undefined);
    // a foreground run given /dev/null gives its process /dev/null: no stdin FIFO to copy nothing
    // through, and no CloseIO while the process runs (a detached one keeps its FIFO for attach)
    const stdin = Boolean(flags.detach || flags.tty) || !stdinIsDevNull();
    // a foreground run opens its output FIFOs once the request is on its way, not before it,
    // where that delays it: berth-monitor opens them read-write, needing no reader, and a shim
    // waits for one (a detached run opens them at once: nothing would later)
    const outputsLater = !flags.detach;
    io = ClientIO.create({ id, terminal: Boolean(flags.tty), fifoDir: flags.fifoDir, logUri, nullIo, stdin, outputsLater });
    relay.check();
    // the progress goes to stderr: stdout is the container's
    // (loaded only when a pull is needed: the pull display is not on the run path)
    const pullIt = async () => (await import('./images/pull.ts')).pullImage(ctx, image, { platform: flags.platform, snapshotter: flags.snapshotter }, true);
    if (flags.pull === 'always') await pullIt();
    const paths = io.paths;
    const start = () =>
      c.run
        .Run(
          {
            image,
            container_id: id,
            spec,
            labels: {
              ...labelArgs(flags.label),
              ...(logUri ? { [logUriLabel]: logUri } : {}),
              ...(log !== undefined ? { [logLabel]: log } : {}),
              [networkLabel]: network.label,
            },
            runtime: flags.runtime,
            runc_binary: flags.runcBinary ?? '',
            snapshotter: flags.snapshotter,
            platform: flags.platform ?? '',
            ...paths,
            auto_remove: Boolean(flags.rm),
            detach: Boolean(flags.detach),
          },
          { deadline: false },
        )
        [Symbol.asyncIterator]();
    let events = start();
    // after this turn of the event loop, in which the request is written
    const outputs = outputsLater ? afterThisTurn(() => io?.openOutputs()) : undefined;
    outputs?.catch(() => undefined);
    let first: IteratorResult<import('../../api/gen/berth/services/run/v1/RunEvent.ts').RunEvent__Output>;
    try {
      try {
        first = await events.next();
      } catch (err) {
        // an image berthd does not have: pulled (as docker run does), then the run again
        if (flags.pull !== 'missing' || !isMissingImage(err)) throw err;
        await pullIt();
        events = start();
        first = await events.next();
      }
    } catch (err) {
      const { isCode } = await import('../../core/errors.ts');
      if (!isCode(err, 'Unimplemented')) throw err;
      io.close();
      io = undefined;
      // containerd sets up no network for a ctr-style container: only the host's, or none
      if (network.needsBerthd)
        throw new Error(`${network.needsBerthd}: networking needs berthd (this daemon has no berth.services.run.v1.Run); here only --net host or none`);
      return await runContainerByCalls(ctx, image, id, command, flags, logUri, relay);
    }
    if (first.done || !first.value.started) throw new Error('the daemon ended the run without starting the task');
    for (const w of first.value.started.warnings) process.stderr.write(`berth: warning: ${w}\n`);
    if (flags.detach) {
      io.release();
      return 0;
    }
    await outputs;
    io.outputsHeld();
    const ids = { container_id: id, exec_id: '' };
    const exited = (async () => {
      for (let e = await events.next(); !e.done; e = await events.next()) if (e.value.exited) return e.value.exited.exit_status;
      throw new Error('the daemon ended the run before the process exited');
    })();
    const started = Date.now();
    const code = await session.attach(c, ids, io, relay, exited);
    if (code === 137 && (await import('./verbs/oom.ts').then((m) => m.oomKilled(c, ctx.options.namespace, id, started - 1000)).catch(() => undefined)))
      process.stderr.write(`berth: container ${id} was killed by the kernel's OOM killer (out of memory)\n`);
    if (!flags.rm) await c.tasks.Delete({ container_id: id });
    // berthd removes the FIFOs with the container (auto-remove): no need to wait for that here
    else io.release();
    return code;
  } finally {
    relay.dispose();
    io?.close();
  }
}

/** Runs `fn` in the check phase of this turn of the event loop: after what its poll phase writes. */
function afterThisTurn(fn: () => void): Promise<void> {
  return new Promise((resolve, reject) =>
    setImmediate(() => {
      try {
        fn();
        resolve();
      } catch (err) {
        reject(err);
      }
    }),
  );
}

/** berthd's answer to a run of an image it does not have (daemon/run/runner.ts). */
function isMissingImage(err: unknown): boolean {
  return (err as { code?: string }).code === 'NotFound' && /^image "[^"]*"/.test((err as Error).message);
}

/** ctr's sequence of calls, for a daemon without berth's Run service (`flags` carry the log URI's annotation already). */
async function runContainerByCalls(
  ctx: Context,
  image: string,
  id: string,
  command: string[],
  flags: RunFlags,
  logUri: string | undefined,
  relay: import('../io/session.ts').SignalRelay,
): Promise<number> {
  if (flags.rm && flags.detach) throw new Error("--rm with --detach needs a daemon that removes containers itself (berthd's berth.services.run.v1.Run)");
  const c = await ctx.client();
  const imageRecord = c.images.Get({ name: image });
  imageRecord.catch(() => undefined);
  const [create, { ClientIO }] = await Promise.all([import('../spec/create.ts'), import('../io/stdio.ts')]);
  let created: import('../spec/create.ts').CreatedContainer | undefined;
  let io: import('../io/stdio.ts').ClientIO | undefined;
  try {
    created = await create.startContainer(c, {
      id,
      image,
      args: command,
      flags,
      namespace: ctx.options.namespace,
      extraLabels: logUri ? { [logUriLabel]: logUri } : undefined,
      imageRecord,
    });
    relay.check();
    io = ClientIO.create({ id, terminal: Boolean(flags.tty), fifoDir: flags.fifoDir, logUri, nullIo: flags.nullIo });
    // the snapshot's mounts as Snapshots.Prepare gave them while the container was made
    const rootfs = created.mounts.map((m) => ({ type: m.type, source: m.source, target: '', options: [...m.options] }));
    return await runTask(c, id, rootfs, io, relay, Boolean(flags.detach));
  } finally {
    io?.close();
    await created?.leaseReleased;
    if (flags.rm && created)
      await create.deleteContainer(c, id, created.container).catch((err: Error) => process.stderr.write(`berth: removing container ${id}: ${err.message}\n`));
  }
}

/**
 * Creates the container's task on `rootfs` with the client's stdio, starts it, then leaves it
 * running (`detach`, resolving 0) or runs it to its end and deletes it (resolving its exit
 * status). A task that a failure or ^C leaves behind is killed and deleted.
 */
export async function runTask(
  c: import('../../transport/client.ts').BerthClient,
  id: string,
  rootfs: { type: string; source: string; target: string; options: string[] }[],
  io: import('../io/stdio.ts').ClientIO,
  relay: import('../io/session.ts').SignalRelay,
  detach: boolean,
): Promise<number> {
  const { startAndWait } = await import('../io/session.ts');
  const { stdin, stdout, stderr, terminal } = io.paths;
  await c.tasks.Create({ container_id: id, rootfs, stdin, stdout, stderr, terminal });
  try {
    if (detach) {
      relay.check();
      await c.tasks.Start({ container_id: id, exec_id: '' });
      io.release();
      return 0;
    }
    const code = await startAndWait(c, { containerId: id, execId: '' }, io, relay);
    await c.tasks.Delete({ container_id: id });
    return code;
  } catch (err) {
    await killAndDelete(c, id);
    throw err;
  }
}

/** SIGKILL, a few seconds for the exit, then Tasks.Delete; all best effort. */
export async function killAndDelete(c: import('../../transport/client.ts').BerthClient, id: string, execId = ''): Promise<void> {
  const { waitWithoutDeadline } = await import('../io/session.ts');
  const tasks = c.tasks;
  const ids = { container_id: id, exec_id: execId };
  const paths = await processPaths(c, id, execId);
  const wait = waitWithoutDeadline(c, ids);
  wait.result.catch(() => undefined);
  await tasks.Kill({ ...ids, signal: 9, all: execId === '' }).catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([wait.result.catch(() => undefined), new Promise((r) => (timer = setTimeout(r, 5000)))]);
  clearTimeout(timer);
  wait.cancel();
  if (execId) await tasks.DeleteProcess(ids).catch(() => undefined);
  else await tasks.Delete({ container_id: id }).catch(() => undefined);
  await removeStdio(execId || id, paths);
}

/** The stdio paths of a task or exec (to remove its FIFOs once it is deleted); [] if unknown. */
export async function processPaths(c: import('../../transport/client.ts').BerthClient, id: string, execId = ''): Promise<string[]> {
  try {
    const { process: p } = await c.tasks.Get({ container_id: id, exec_id: execId });
    return p ? [p.stdin, p.stdout, p.stderr] : [];
  } catch {
    return [];
  }
}

/** Removes the FIFO directory a detached run left for a process that is now deleted. */
export async function removeStdio(processId: string, paths: string[]): Promise<void> {
  if (paths.length === 0) return;
  const { removeFifosOf } = await import('../../core/stdio-fifos.ts');
  try {
    removeFifosOf(processId, paths);
  } catch {
    // someone else's files, or gone already
  }
}
