import { Command, CommanderError, Option } from 'commander';
import { version } from '../proto/version.ts';
import { register as containers } from './commands/containers.ts';
import { register as content } from './commands/content.ts';
import { register as events } from './commands/events.ts';
import { register as images } from './commands/images.ts';
import { register as layers } from './commands/layers.ts';
import { register as leases } from './commands/leases.ts';
import { register as logs } from './commands/logs.ts';
import { register as namespaces } from './commands/namespaces.ts';
import { register as plugins } from './commands/plugins.ts';
import { register as runCommand } from './commands/run.ts';
import { register as snapshots } from './commands/snapshots.ts';
import { register as tasks } from './commands/tasks.ts';
import { register as versionCommand } from './commands/version.ts';
import { Context } from './context.ts';
import { debugDetails, describeError, ExitError } from './errors.ts';
import { parseDuration } from './parse.ts';

export const defaultAddress = '/run/berth/berth.sock';
export const defaultNamespace = 'default';

/** The berth program: global flags (before the command, as with ctr) and every command group. */
export function program(): { program: Command; ctx: Context } {
  const program = new Command('berth');
  const ctx = new Context(program);
  program
    .description('berth: the command-line client of berthd, a containerd-compatible container runtime')
    .version(version, '-v, --version', 'print the client version')
    .enablePositionalOptions()
    .addOption(new Option('-a, --address <path>', 'address of berthd\'s socket').env('BERTH_ADDRESS').default(defaultAddress))
    .addOption(new Option('-n, --namespace <name>', 'namespace to work in').env('BERTH_NAMESPACE').default(defaultNamespace))
    .addOption(new Option('--timeout <duration>', 'deadline for each call to the daemon (e.g. 500ms, 10s; 0: none)').argParser(parseDuration))
    .option('--debug', 'print stack traces and gRPC details with errors')
    // Settings below are copied into every subcommand created after them.
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, 'berth: ')) })
    .showSuggestionAfterError(true);
  versionCommand(program, ctx);
  plugins(program, ctx);
  namespaces(program, ctx);
  content(program, ctx);
  snapshots(program, ctx);
  images(program, ctx);
  layers(program, ctx);
  leases(program, ctx);
  events(program, ctx);
  runCommand(program, ctx);
  containers(program, ctx);
  tasks(program, ctx);
  logs(program, ctx);
  return { program, ctx };
}

/**
 * Runs berth with these arguments (as in process.argv, node and script first) and resolves with
 * the exit status: 0 on success, 1 when the command failed, 2 for a usage error.
 */
export async function run(argv: string[]): Promise<number> {
  const { program: cli, ctx } = program();
  try {
    await cli.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and --version end with status 0; commander has printed usage errors already
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof ExitError) return err.exitCode;
    const opts = ctx.options;
    process.stderr.write(`berth: ${describeError(err, opts)}\n`);
    if (opts.debug) process.stderr.write(debugDetails(err));
    return 1;
  } finally {
    ctx.close();
  }
}
