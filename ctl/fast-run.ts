import { type RunFlags, runCommand, runFlags } from './commands/run.ts';
import { Context, type GlobalOptions, globalFlags } from './context.ts';
import { exitStatusOf } from './errors.ts';
import { parseFlags } from './flags.ts';

/**
 * `berth run` without commander. Most of what `berth run --rm IMAGE ID true` costs the CLI is
 * loading code before its one call goes out; commander (with the Node modules it loads) is
 * ~15 ms of it, and a plain run's command line needs none of it. This parses the global flags
 * and run's from the same tables commander's definition reads (context.ts, commands/run.ts), and
 * runs the same code (runCommand) that commander's action does. Its client codes its messages
 * with api/wire.ts rather than protobufjs (~15 ms more).
 */

export interface RunCommandLine {
  globals: GlobalOptions;
  image: string;
  id: string;
  command: string[];
  flags: RunFlags;
}

/**
 * The parts of a `berth [global flags] run [flags] IMAGE ID [COMMAND...]` command line (argv as
 * in process.argv), or undefined for any other command and for anything parseFlags leaves to
 * commander (help, an unknown flag, a bad value, a missing argument).
 */
export function parseRunCommandLine(argv: readonly string[]): RunCommandLine | undefined {
  const globals = parseFlags(argv.slice(2), globalFlags);
  if (globals?.rest[0] !== 'run') return undefined;
  const run = parseFlags(globals.rest.slice(1), runFlags);
  if (!run || run.rest.length < 2) return undefined;
  const [image, id, ...command] = run.rest as [string, string, ...string[]];
  return { globals: globals.values as unknown as GlobalOptions, image, id, command, flags: run.values as unknown as RunFlags };
}

/**
 * Runs `berth run` if argv is a command line parseRunCommandLine takes, resolving with the exit
 * status as cli.ts's run() would; undefined (having done nothing) otherwise. The connection to
 * berthd is left open: the caller ends the process at once (main.ts), which closes it, and a
 * graceful HTTP/2 close first would only cost the time of its writes.
 */
export async function fastRun(argv: readonly string[]): Promise<number | undefined> {
  const line = parseRunCommandLine(argv);
  if (!line) return undefined;
  const ctx = new Context(() => line.globals, 'wire');
  try {
    await runCommand(ctx, line.image, line.id, line.command, line.flags);
    return 0;
  } catch (err) {
    return exitStatusOf(err, line.globals);
  }
}
