import { Command, CommanderError } from 'commander';
import { version } from '../core/version.ts';
import { Context, type GlobalOptions, globalFlags } from './context.ts';
import { exitStatusOf } from './errors.ts';
import { addFlags } from './flags.ts';

type Register = (program: Command, ctx: Context) => void;

// Each command group's module, in help order, under every name (and alias) that selects it.
const commands: [names: string[], load: () => Promise<Register>][] = [
  [['version'], async () => (await import('./commands/version.ts')).register],
  [['plugins', 'plugin'], async () => (await import('./commands/plugins.ts')).register],
  [['namespaces', 'ns', 'namespace'], async () => (await import('./commands/namespaces.ts')).register],
  [['content'], async () => (await import('./commands/content/index.ts')).register],
  [['snapshots', 'snapshot'], async () => (await import('./commands/snapshots/index.ts')).register],
  [['images', 'image', 'i'], async () => (await import('./commands/images/index.ts')).register],
  [['layer'], async () => (await import('./commands/layers.ts')).register],
  [['leases', 'lease'], async () => (await import('./commands/leases.ts')).register],
  [['events', 'event'], async () => (await import('./commands/events.ts')).register],
  [['run'], async () => (await import('./commands/run.ts')).register],
  [['network', 'networks', 'net'], async () => (await import('./commands/network.ts')).register],
  [['volume', 'volumes'], async () => (await import('./commands/volume.ts')).register],
  [['containers', 'container', 'c'], async () => (await import('./commands/containers.ts')).register],
  [['tasks', 'task', 't'], async () => (await import('./commands/tasks/index.ts')).register],
  [['logs'], async () => (await import('./commands/logs.ts')).register],
  [['ps', 'stop', 'kill', 'wait', 'start', 'restart', 'rm', 'inspect', 'exec'], async () => (await import('./commands/verbs/index.ts')).register],
  [['system'], async () => (await import('./commands/verbs/prune.ts')).register],
  [['completion'], async () => (await import('./commands/completion.ts')).register],
];

/** Docker's words for image commands, spelled as ctr's groups spell them: `berth pull` is `berth images pull`. */
const shorthands: Record<string, string[]> = {
  pull: ['images', 'pull'],
  push: ['images', 'push'],
  rmi: ['images', 'rm'],
  tag: ['images', 'tag'],
};

/** argv with a shorthand command word (see shorthands) spelled out; the same argv otherwise. */
export function expandShorthand(argv: readonly string[]): string[] {
  const word = selectedCommand(argv);
  const long = word === undefined ? undefined : shorthands[word];
  if (!long) return [...argv];
  const at = argv.indexOf(word!, 2);
  return [...argv.slice(0, at), ...long, ...argv.slice(at + 1)];
}

/**
 * The command group argv names, when it is certain: the first word after the global flags.
 * Undefined (everything is registered then) for help, usage errors and anything unusual.
 */
export function selectedCommand(argv: readonly string[]): string | undefined {
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--debug') continue;
    if (a === '-a' || a === '--address' || a === '-n' || a === '--namespace' || a === '--timeout') {
      i++;
      continue;
    }
    if (/^--(address|namespace|timeout)=/.test(a) || /^-[an]./.test(a)) continue;
    // the version needs no command; help and anything else, all of them
    if (a === '-v' || a === '--version') return 'version';
    if (a.startsWith('-')) return undefined;
    return a;
  }
  return undefined;
}

/**
 * The berth program: global flags (before the command, as with ctr) and the command groups;
 * with `only`, just the group of that name (commands are many modules: a command loads its own).
 */
export async function program(only?: string): Promise<{ program: Command; ctx: Context }> {
  const program = new Command('berth');
  const ctx = new Context(() => program.opts<GlobalOptions>());
  addFlags(
    program
      .description('berth: the command-line client of berthd, a containerd-compatible container runtime')
      .version(version, '-v, --version', 'print the client version')
      .enablePositionalOptions(),
    globalFlags,
  )
    // Settings below are copied into every subcommand created after them.
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, 'berth: ')) })
    .showSuggestionAfterError(true)
    .addHelpText(
      'after',
      `\nDocker's words for images work too: ${Object.entries(shorthands)
        .map(([w, l]) => `${w} = ${l.join(' ')}`)
        .join(', ')}.`,
    );
  const selected = only === undefined ? undefined : commands.find(([names]) => names.includes(only));
  const registers = await Promise.all((selected ? [selected] : commands).map(([, load]) => load()));
  for (const register of registers) register(program, ctx);
  addExamples(program, '', (await import('./examples.ts')).examples);
  return { program, ctx };
}

/** Puts the table's example under the help of each command that shows none of its own. */
function addExamples(cmd: Command, path: string, table: Record<string, string[]>): void {
  for (const sub of cmd.commands) {
    const at = path ? `${path} ${sub.name()}` : sub.name();
    if (sub.commands.length > 0) addExamples(sub, at, table);
    else if ((sub as unknown as NodeJS.EventEmitter).listenerCount('afterHelp') === 0 && table[at])
      sub.addHelpText('after', `\nExample${table[at].length > 1 ? 's' : ''}:\n${table[at].map((l) => `  ${l}`).join('\n')}`);
  }
}

/**
 * Runs berth with these arguments (as in process.argv, node and script first) and resolves with
 * the exit status: 0 on success, 1 when the command failed, 2 for a usage error.
 */
export async function run(given: string[]): Promise<number> {
  const argv = expandShorthand(given);
  const { program: cli, ctx } = await program(selectedCommand(argv));
  try {
    await cli.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and --version end with status 0; commander has printed usage errors already
      return err.exitCode === 0 ? 0 : 2;
    }
    return exitStatusOf(err, ctx.options);
  } finally {
    ctx.close();
  }
}
