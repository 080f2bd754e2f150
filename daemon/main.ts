import { Command, Option } from 'commander';
import { BerthError } from '../core/errors.ts';
import { defaultHostsDir } from '../core/registry/hosts.ts';
import { version } from '../core/version.ts';
import { defaultConfigText, defaults, loadConfig } from './config.ts';
import { defaultJournalBytes } from './events/journal.ts';
import { createLogger, isLogLevel } from './log.ts';
import { defaultConcurrentUnpacks } from './pull/unpack.ts';
import { startDaemon } from './server.ts';

const program = new Command('berthd')
  .description('berth daemon: containerd-compatible gRPC API on a unix socket')
  .version(version, '-v, --version')
  .option('-a, --address <path>', `socket to serve (default ${defaults.address})`)
  .option('--root <dir>', `persistent data (default ${defaults.root})`)
  .option('--state <dir>', `runtime state (default ${defaults.state})`)
  .option('-c, --config <file>', 'TOML config file (default /etc/berth/config.toml, optional)')
  .addOption(new Option('-l, --log-level <level>', 'log level').choices(['debug', 'info', 'warn', 'error']))
  .action(async (opts: { address?: string; root?: string; state?: string; config?: string; logLevel?: string }) => {
    const config = await loadConfig(opts.config);
    if (opts.address) config.address = opts.address;
    if (opts.root) config.root = opts.root;
    if (opts.state) config.state = opts.state;
    if (opts.logLevel && isLogLevel(opts.logLevel)) config.logLevel = opts.logLevel;
    const log = createLogger(config.logLevel);
    const daemon = await startDaemon(config, log);
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info('shutting down', { signal });
      daemon.shutdown().then(
        () => process.exit(0),
        (err) => {
          log.error('shutdown failed', { error: (err as Error).message });
          process.exit(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });

program
  .command('config')
  .description('configuration helpers')
  .command('default')
  .description('print the full default configuration, commented (a starting point for /etc/berth/config.toml)')
  .action(() => {
    process.stdout.write(
      defaultConfigText({ journalMaxBytes: defaultJournalBytes, maxConcurrentUnpacks: defaultConcurrentUnpacks, hostsDir: defaultHostsDir }),
    );
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  const message = err instanceof BerthError || err instanceof Error ? err.message : String(err);
  process.stderr.write(`berthd: ${message}\n`);
  process.exit(1);
});
