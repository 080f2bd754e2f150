import type { Command } from 'commander';
import { revision, version } from '../../core/version.ts';
import type { Context } from '../context.ts';
import { type Format, formatFlag, out, printJson, warn } from '../output.ts';

/** `berth version`: the client's and the server's version, and the server's UUID (as ctr prints them). */
export function register(program: Command, ctx: Context) {
  formatFlag(program.command('version').description('print the client and server versions')).action(async (flags: { format: Format }) => {
    const c = await ctx.client({ namespaced: false });
    const [server, info] = await Promise.all([c.version.Version({}), c.introspection.Server({})]);
    if (flags.format === 'json') {
      printJson({
        client: { version, revision, node: process.version },
        server: { version: server.version, revision: server.revision, uuid: info.uuid, pid: info.pid || undefined },
      });
    } else {
      out(
        'Client:\n' +
          `  Version:  ${version}\n` +
          `  Revision: ${revision}\n` +
          `  Node.js:  ${process.version}\n` +
          '\n' +
          'Server:\n' +
          `  Version:  ${server.version}\n` +
          `  Revision: ${server.revision}\n` +
          `  UUID:     ${info.uuid}\n`,
      );
    }
    if (server.version !== version) warn(`berth: warning: client version ${version} differs from server version ${server.version}`);
  });
}
