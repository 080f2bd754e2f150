import { type Command, Option } from 'commander';
import type { Container__Output } from '../../api/gen/containerd/services/containers/v1/Container.ts';
import type { Process__Output as TaskProcess } from '../../api/gen/containerd/v1/types/Process.ts';
import type { BerthClient } from '../../transport/client.ts';
import type { Context } from '../context.ts';
import { ExitError, forEachTarget } from '../errors.ts';
import { type Format, formatFlag, type ListFlags, listFlags, out, printJson, printList, table } from '../output.ts';
import { fifoDirOption, killAndDelete, removeStdio, runCreatedTask } from './run.ts';

async function getContainer(c: BerthClient, id: string): Promise<Container__Output> {
  return (await c.containers.Get({ id })).container!;
}

async function getProcess(c: BerthClient, id: string, execId = ''): Promise<TaskProcess> {
  const { process: p } = await c.tasks.Get({ container_id: id, exec_id: execId });
  if (!p) throw new Error(`task ${id}: no process in the answer`);
  return p;
}

function positiveInt(what: string) {
  return (text: string) => {
    if (!/^\d+$/.test(text)) throw new Error(`invalid ${what} "${text}"`);
    return Number(text);
  };
}

/** Creates the task of a container with stdio as `ctr tasks start` does, and runs it to its end. */
async function startTask(ctx: Context, id: string, flags: { detach?: boolean; nullIo?: boolean; logUri?: string; fifoDir: string }): Promise<number> {
  const [c, { containerSpec }, { ClientIO, normalizeLogUri }, { SignalRelay }] = await Promise.all([
    ctx.client(),
    import('../spec/create.ts'),
    import('../io/stdio.ts'),
    import('../io/session.ts'),
  ]);
  const container = await getContainer(c, id);
  const terminal = Boolean(containerSpec(container)?.process?.terminal);
  const relay = new SignalRelay();
  let io: import('../io/stdio.ts').ClientIO | undefined;
  try {
    const logUri = flags.logUri ? normalizeLogUri(flags.logUri) : undefined;
    io = ClientIO.create({ id, terminal, fifoDir: flags.fifoDir, logUri, nullIo: flags.nullIo });
    let rootfs: { type: string; source: string; target: string; options: string[] }[] = [];
    if (container.snapshotter && container.snapshot_key) {
      const { mounts } = await c.snapshots.Mounts({ snapshotter: container.snapshotter, key: container.snapshot_key });
      rootfs = mounts.map((m) => ({ type: m.type, source: m.source, target: '', options: m.options }));
    }
    await c.tasks.Create({
      container_id: id,
      rootfs,
      stdin: io.paths.stdin,
      stdout: io.paths.stdout,
      stderr: io.paths.stderr,
      terminal: io.paths.terminal,
    });
    return await runCreatedTask(c, id, io, relay, Boolean(flags.detach));
  } finally {
    relay.dispose();
    io?.close();
  }
}

interface ExecFlags {
  execId: string;
  tty?: boolean;
  detach?: boolean;
  cwd?: string;
  env: string[];
  user?: string;
  fifoDir: string;
  logUri?: string;
}

async function execProcess(ctx: Context, id: string, command: string[], flags: ExecFlags): Promise<number> {
  const [c, create, spec, user, { ClientIO, normalizeLogUri }, { SignalRelay, startAndWait }] = await Promise.all([
    ctx.client(),
    import('../spec/create.ts'),
    import('../spec/spec.ts'),
    import('../spec/user.ts'),
    import('../io/stdio.ts'),
    import('../io/session.ts'),
  ]);
  const { validateIdentifier } = await import('../../core/identifiers.ts');
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
      p.user = await create.withReadOnlyMounts(mounts, (root) => user.resolveUser(new user.Accounts(root), u));
    }
  }
  const relay = new SignalRelay();
  const tasks = c.tasks;
  let io: import('../io/stdio.ts').ClientIO | undefined;
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
      spec: { type_url: create.processTypeUrl, value: Buffer.from(spec.goJson(p)) },
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

/** Reopens a running task's FIFOs (the paths Tasks.Get reports) and follows it to its exit. */
async function attachTask(ctx: Context, id: string): Promise<number> {
  const [c, { ClientIO }, { SignalRelay, waitWithoutDeadline }] = await Promise.all([ctx.client(), import('../io/stdio.ts'), import('../io/session.ts')]);
  const p = await getProcess(c, id);
  const io = ClientIO.attach({ stdin: p.stdin, stdout: p.stdout, stderr: p.stderr, terminal: p.terminal });
  const relay = new SignalRelay();
  const tasks = c.tasks;
  const ids = { container_id: id, exec_id: '' };
  const resize = () => {
    const size = ClientIO.terminalSize();
    if (size) tasks.ResizePty({ ...ids, ...size }).catch(() => undefined);
  };
  try {
    const wait = waitWithoutDeadline(c, ids);
    relay.forwardTo((signal) => tasks.Kill({ ...ids, signal, all: false }).catch(() => undefined));
    if (p.terminal) {
      resize();
      process.stdout.on('resize', resize);
    }
    io.start(() => tasks.CloseIO({ ...ids, stdin: true }).catch(() => undefined));
    const res = await wait.result;
    await io.drain(1000);
    return res.exit_status;
  } finally {
    process.stdout.off('resize', resize);
    relay.dispose();
    io.close();
  }
}

function metricRows(typeName: string, m: Record<string, any>): [string, string][] {
  const n = (v: unknown) => (v === undefined || v === null ? '-' : String(v));
  if (typeName.endsWith('cgroups.v2.Metrics')) {
    return [
      ['memory.usage', n(m.memory?.usage)],
      ['memory.usage_limit', n(m.memory?.usage_limit)],
      ['memory.swap_usage', n(m.memory?.swap_usage)],
      ['memory.oom_kill', n(m.memory_events?.oom_kill)],
      ['cpu.usage_usec', n(m.cpu?.usage_usec)],
      ['cpu.user_usec', n(m.cpu?.user_usec)],
      ['cpu.system_usec', n(m.cpu?.system_usec)],
      ['cpu.nr_throttled', n(m.cpu?.nr_throttled)],
      ['pids.current', n(m.pids?.current)],
      ['pids.limit', n(m.pids?.limit)],
    ];
  }
  return [
    ['memory.usage', n(m.memory?.usage?.usage)],
    ['memory.limit', n(m.memory?.usage?.limit)],
    ['memory.max', n(m.memory?.usage?.max)],
    ['cpu.usage_total_ns', n(m.cpu?.usage?.total)],
    ['cpu.usage_user_ns', n(m.cpu?.usage?.user)],
    ['cpu.usage_kernel_ns', n(m.cpu?.usage?.kernel)],
    ['cpu.throttled_periods', n(m.cpu?.throttling?.throttled_periods)],
    ['pids.current', n(m.pids?.current)],
    ['pids.limit', n(m.pids?.limit)],
  ];
}

/** `berth tasks …`: the running side of containers (ctr tasks). */
export function register(program: Command, ctx: Context) {
  const tasks = program.command('tasks').alias('task').alias('t').description("manage tasks (a container's running process and its execs)");

  tasks
    .command('start')
    .description("start a container's task, attached unless -d (exit status: the task's)")
    .argument('<id>', 'container id')
    .option('-d, --detach', 'start it and return, leaving its FIFOs for tasks attach (output blocks once 64 KiB wait unread: use --log-uri or --null-io)')
    .option('--null-io', 'send all stdio to /dev/null')
    .option('--log-uri <uri>', 'send stdout and stderr to file:///path or binary:///path')
    .addOption(fifoDirOption())
    .action(async (id: string, flags: { detach?: boolean; nullIo?: boolean; logUri?: string; fifoDir: string }) => {
      const code = await startTask(ctx, id, flags);
      if (code !== 0) throw new ExitError(code);
    });

  listFlags(tasks.command('ls').alias('list').description('list tasks: id, pid and status'), 'print only the task ids').action(async (flags: ListFlags) => {
    const c = await ctx.client();
    const { tasks: list } = await c.tasks.List({ filter: '' });
    printList(list, flags, {
      id: (t) => t.id || t.container_id,
      json: (t) => ({ id: t.id || t.container_id, pid: t.pid, status: t.status.toLowerCase(), exit_status: t.exit_status }),
      columns: [
        ['TASK', (t) => t.id || t.container_id],
        ['PID', (t) => String(t.pid)],
        ['STATUS', (t) => t.status.toUpperCase()],
      ],
    });
  });

  formatFlag(tasks.command('ps').description('list the processes of a task: pid and exec id').argument('<id>', 'container id')).action(
    async (id: string, flags: { format: Format }) => {
      const c = await ctx.client();
      const { processes } = await c.tasks.ListPids({ container_id: id });
      const { unpackAny } = await import('../../core/any.ts');
      const execId = (info: { type_url: string; value: Buffer } | null) =>
        info?.type_url.endsWith('ProcessDetails') ? unpackAny<{ exec_id: string }>(info).message.exec_id : undefined;
      if (flags.format === 'json') return printJson(processes.map((p) => ({ pid: p.pid, exec_id: execId(p.info) ?? null })));
      out(
        table(
          ['PID', 'INFO'],
          processes.map((p) => [String(p.pid), execId(p.info) ? `&ProcessDetails{ExecID:${execId(p.info)},}` : '-']),
        ),
      );
    },
  );

  tasks
    .command('kill')
    .description("signal a task (default: the container's stop signal, else SIGTERM)")
    .argument('<id>', 'container id')
    .option('-s, --signal <signal>', 'signal name or number (SIGKILL, KILL, 9)')
    .option('-a, --all', 'signal every process of the task')
    .option('--exec-id <id>', 'signal this exec instead of the init process')
    .action(async (id: string, flags: { signal?: string; all?: boolean; execId?: string }) => {
      const [c, { signalNumber }, { stopSignalLabel }] = await Promise.all([ctx.client(), import('../io/session.ts'), import('../spec/create.ts')]);
      if (flags.all && flags.execId) throw new Error('--all applies to the init process only, not with --exec-id');
      const container = await getContainer(c, id);
      const signal = signalNumber(flags.signal ?? container.labels?.[stopSignalLabel] ?? 'SIGTERM');
      await getProcess(c, id);
      await c.tasks.Kill({ container_id: id, exec_id: flags.execId ?? '', signal, all: Boolean(flags.all) });
    });

  tasks
    .command('exec')
    .description("run another process in a running task (exit status: the process's)")
    .argument('<id>', 'container id')
    .argument('<command...>', 'command and arguments')
    .passThroughOptions()
    .requiredOption('--exec-id <id>', 'id for the new process (unique within the task)')
    .option('-t, --tty', 'allocate a terminal')
    .option('-d, --detach', 'start it and return')
    .option('--cwd <dir>', 'working directory')
    .option('--env <K=V>', 'set an environment variable (repeatable)', (v: string, prev: string[] = []) => [...prev, v], [])
    .option('-u, --user <user>', 'user: name, uid, name:group or uid:gid')
    .option('--log-uri <uri>', 'send stdout and stderr to file:///path or binary:///path')
    .addOption(fifoDirOption())
    .action(async (id: string, command: string[], flags: ExecFlags) => {
      const code = await execProcess(ctx, id, command, flags);
      if (code !== 0) throw new ExitError(code);
    });

  tasks
    .command('attach')
    .description("attach to a running task's stdio (its FIFOs must still exist) and wait for it")
    .argument('<id>', 'container id')
    .action(async (id: string) => {
      const code = await attachTask(ctx, id);
      if (code !== 0) throw new ExitError(code);
    });

  for (const [name, method, what] of [
    ['pause', 'Pause', 'freeze every process of a task'],
    ['resume', 'Resume', 'thaw a paused task'],
  ] as const) {
    tasks
      .command(name)
      .description(what)
      .argument('<id>', 'container id')
      .action(async (id: string) => {
        const c = await ctx.client();
        await c.tasks[method]({ container_id: id });
      });
  }

  formatFlag(tasks.command('metrics').alias('metric').description('cgroup figures of a task: memory, cpu, pids').argument('<id>', 'container id')).action(
    async (id: string, flags: { format: Format }) => {
      const [c, { unpackAny }] = await Promise.all([ctx.client(), import('../../core/any.ts')]);
      const { metrics } = await c.tasks.Metrics({ filters: [`id==${id}`] });
      const metric = metrics.find((m) => m.id === id) ?? metrics[0];
      if (!metric?.data) throw new Error(`no metrics for task ${id}`);
      const { typeName, message } = unpackAny<Record<string, any>>(metric.data);
      if (flags.format === 'json') return printJson({ id, type: typeName, metrics: message });
      out(table(['METRIC', 'VALUE'], metricRows(typeName, message)));
    },
  );

  tasks
    .command('update')
    .description("change a running task's resource limits")
    .argument('<id>', 'container id')
    .addOption(new Option('--memory-limit <bytes>', 'memory limit in bytes').argParser(positiveInt('memory limit')))
    .addOption(
      new Option('--cpus <n>', 'CPU limit (CFS quota of n × 100000 per 100000µs)').argParser((v: string) => {
        const n = Number(v);
        if (!Number.isFinite(n) || n <= 0) throw new Error(`invalid number of CPUs "${v}"`);
        return n;
      }),
    )
    .addOption(new Option('--pids-limit <n>', 'maximum number of processes').argParser(positiveInt('pids limit')))
    .action(async (id: string, flags: { memoryLimit?: number; cpus?: number; pidsLimit?: number }) => {
      const [c, { resourcesTypeUrl }] = await Promise.all([ctx.client(), import('../spec/create.ts')]);
      const resources: Record<string, unknown> = {};
      if (flags.memoryLimit !== undefined) resources.memory = { limit: flags.memoryLimit };
      if (flags.cpus !== undefined) resources.cpu = { quota: Math.trunc(flags.cpus * 100000), period: 100000 };
      if (flags.pidsLimit !== undefined) resources.pids = { limit: flags.pidsLimit };
      if (Object.keys(resources).length === 0) throw new Error('nothing to update: give --memory-limit, --cpus or --pids-limit');
      await c.tasks.Update({
        container_id: id,
        resources: { type_url: resourcesTypeUrl, value: Buffer.from(JSON.stringify(resources)) },
        annotations: {},
      });
    });

  tasks
    .command('wait')
    .description('wait for a task (or an exec) to exit and print its exit status')
    .argument('<id>', 'container id')
    .option('--exec-id <id>', 'wait for this exec instead')
    .action(async (id: string, flags: { execId?: string }) => {
      const [c, { waitWithoutDeadline }] = await Promise.all([ctx.client(), import('../io/session.ts')]);
      const res = await waitWithoutDeadline(c, { container_id: id, exec_id: flags.execId ?? '' }).result;
      out(`${res.exit_status}\n`);
    });

  tasks
    .command('rm')
    .alias('delete')
    .alias('del')
    .alias('remove')
    .description('delete stopped tasks, printing each id deleted (-f kills a running one first)')
    .argument('<ids...>', 'container ids')
    .option('-f, --force', 'kill the task first if it runs')
    .option('--exec-id <id>', 'delete this exec process instead')
    .action(async (ids: string[], flags: { force?: boolean; execId?: string }) => {
      const c = await ctx.client();
      await forEachTarget(
        ids,
        async (id) => {
          const p = await getProcess(c, id, flags.execId);
          const running = p.status !== 'STOPPED' && p.status !== 'CREATED';
          if (running && !flags.force) throw new Error(`task ${id} must be stopped before deletion: ${p.status.toLowerCase()} (use -f to kill it)`);
          if (running) return killAndDelete(c, id, flags.execId);
          if (flags.execId) await c.tasks.DeleteProcess({ container_id: id, exec_id: flags.execId });
          else await c.tasks.Delete({ container_id: id });
          await removeStdio(flags.execId || id, [p.stdin, p.stdout, p.stderr]);
        },
        ctx.options,
      );
    });
}
