import type { Command } from 'commander';
import { randomHex } from '../../../native/fifo.ts';
import type { Context } from '../../context.ts';
import { ExitError } from '../../errors.ts';
import { addFlags } from '../../flags.ts';
import { fifoDirFlag, killAndDelete } from '../run.ts';
import { getContainer, getProcess } from './lookup.ts';

interface ExecFlags {
  execId?: string;
  tty?: boolean;
  detach?: boolean;
  cwd?: string;
  env: string[];
  user?: string;
  fifoDir: string;
  logUri?: string;
}

async function execProcess(ctx: Context, id: string, command: string[], flags: ExecFlags & { execId: string }): Promise<number> {
  const [c, create, specTypes, spec, user, mount, { ClientIO, normalizeLogUri }, { SignalRelay, startAndWait }] = await Promise.all([
    ctx.client(),
    import('../../spec/create.ts'),
    import('../../../core/spec/names.ts'),
    import('../../../core/spec/spec.ts'),
    import('../../../core/spec/user.ts'),
    import('../../../native/mount.ts'),
    import('../../io/stdio.ts'),
    import('../../io/session.ts'),
  ]);
  const { validateIdentifier } = await import('../../../core/identifiers.ts');
  validateIdentifier(flags.execId);
  const container = await getContainer(c, id);
  const s = create.containerSpec(container);
  if (!s?.process) throw new Error(`container ${id} has no process in its spec`);
  await getProcess(c, id);
  const p = { ...s.process, args: command, terminal: Boolean(flags.tty) };
  delete p.consoleSize;
  const size = flags.tty ? ClientIO.terminalSize() : undefined;
  if (size) p.consoleSize = { height: size.height, width: size.width };
  if (flags.cwd) p.cwd = spec.cleanCwd(flags.cwd, '--cwd');
  if (flags.env.length > 0) p.env = spec.mergeEnv(p.env ?? [], flags.env);
  if (flags.tty && !(p.env ?? []).some((e) => e.startsWith('TERM='))) p.env = [...(p.env ?? []), 'TERM=xterm'];
  if (flags.user) {
    const u = flags.user;
    if (/^\d+:\d+$/.test(u)) p.user = user.resolveUser(new user.Accounts(undefined), u);
    else {
      const { mounts } = await c.snapshots.Mounts({ snapshotter: container.snapshotter, key: container.snapshot_key });
      p.user = await mount.withReadOnlyMounts(mounts, (root) => user.resolveUser(new user.Accounts(root), u));
    }
  }
  const relay = new SignalRelay();
  const tasks = c.tasks;
  let io: import('../../io/stdio.ts').ClientIO | undefined;
  let created = false;
  try {
    const logUri = flags.logUri ? normalizeLogUri(flags.logUri) : undefined;
    io = ClientIO.create({ id: flags.execId, terminal: Boolean(flags.tty), fifoDir: flags.fifoDir, logUri });
    await tasks.Exec({
      container_id: id,
      exec_id: flags.execId,
      stdin: io.paths.stdin,
      stdout: io.paths.stdout,
      stderr: io.paths.stderr,
      terminal: io.paths.terminal,
      spec: { type_url: specTypes.processTypeUrl, value: Buffer.from(spec.goJson(p)) },
    });
    created = true;
    if (flags.detach) {
      await tasks.Start({ container_id: id, exec_id: flags.execId });
      io.release();
      return 0;
    }
    const code = await startAndWait(c, { containerId: id, execId: flags.execId }, io, relay);
    await tasks.DeleteProcess({ container_id: id, exec_id: flags.execId });
    created = false;
    return code;
  } catch (err) {
    if (created && !flags.detach) await killAndDelete(c, id, flags.execId);
    throw err;
  } finally {
    relay.dispose();
    io?.close();
  }
}

/** `berth tasks exec ID COMMAND...`: another process in a running task. */
export function register(tasks: Command, ctx: Context) {
  addFlags(
    tasks
      .command('exec')
      .description("run another process in a running task (exit status: the process's)")
      .argument('<id>', 'container id')
      .argument('<command...>', 'command and arguments')
      .passThroughOptions()
      .option('--exec-id <id>', 'id for the new process (unique within the task; default: a new one)')
      .option('-t, --tty', 'allocate a terminal')
      .option('-i, --interactive', "connect stdin (berth always does; accepted for Docker's -it)")
      .option('-d, --detach', 'start it and return')
      .option('-w, --cwd <dir>', 'working directory')
      .option('-e, --env <K=V>', 'set an environment variable (repeatable)', (v: string, prev: string[] = []) => [...prev, v], [])
      .option('-u, --user <user>', 'user: name, uid, name:group or uid:gid')
      .option('--log-uri <uri>', 'send stdout and stderr to file:///path or binary:///path')
      .addHelpText('after', '\nExamples:\n  berth exec -it web sh\n  berth exec web cat /etc/hostname'),
    [fifoDirFlag],
  ).action(async (id: string, command: string[], flags: ExecFlags) => {
    const execId = flags.execId ?? `exec-${randomHex(6)}`;
    const code = await execProcess(ctx, id, command, { ...flags, execId });
    if (code !== 0) throw new ExitError(code);
  });
}
