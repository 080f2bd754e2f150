import type { Command } from 'commander';

/** How `berth images pull` and `push` reach a registry. */
export interface RegistryFlags {
  plainHttp?: boolean;
  skipVerify?: boolean;
  tlsCa?: string;
  user?: string;
}

/** Adds the registry flags to a command (help lists them in this order). */
export function registryFlags(cmd: Command): Command {
  return cmd
    .option('--plain-http', 'talk plain HTTP to the registry')
    .option('--skip-verify', 'accept any TLS certificate from the registry')
    .option('--tls-ca <file>', 'a PEM file of CAs to trust for the registry')
    .option('-u, --user <user:password>', 'credentials for the registry (default: its login in $DOCKER_CONFIG/config.json or ~/.docker/config.json)');
}
