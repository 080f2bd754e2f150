import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { IntrospectionHandlers } from '../../api/gen/containerd/services/introspection/v1/Introspection.ts';
import type { Plugin as PluginMessage } from '../../api/gen/containerd/services/introspection/v1/Plugin.ts';
import { Introspection } from '../../api/services.ts';
import { notFound, unimplemented } from '../../core/errors.ts';
import { adaptFields, parseFilters } from '../filters.ts';
import { unary } from '../grpc.ts';
import type { GrpcService, PluginRegistry, PluginState } from '../plugin.ts';

/** The server's UUID, made once and kept under the root. */
export async function serverUuid(root: string): Promise<string> {
  const path = join(root, 'uuid');
  try {
    return (await fs.readFile(path, 'utf8')).trim();
  } catch {
    const uuid = randomUUID();
    await fs.writeFile(`${path}.tmp`, uuid, { mode: 0o600 });
    await fs.rename(`${path}.tmp`, path);
    return uuid;
  }
}

const pluginMessage = (s: PluginState): PluginMessage => ({
  type: s.type,
  id: s.id,
  requires: s.requires,
  platforms: s.platforms,
  exports: s.exports,
  capabilities: s.capabilities,
  init_err: s.error ? { code: s.error.skipped ? 9 : 2, message: s.error.message, details: [] } : null,
});

export function introspectionService(registry: PluginRegistry, uuid: string): GrpcService {
  const handlers: IntrospectionHandlers = {
    Plugins: unary(async (req) => {
      const match = parseFilters(req.filters);
      const plugins = registry.states.filter((s) => match(adaptFields({ type: s.type, id: s.id }, { exports: s.exports }))).map(pluginMessage);
      return { plugins };
    }),
    PluginInfo: unary(async (req) => {
      const state = registry.states.find((s) => s.type === req.type && s.id === req.id);
      if (!state) throw notFound(`plugin ${JSON.stringify(`${req.type}.${req.id}`)} not found`);
      // as containerd: a plugin answers options only when it provides information of its own,
      // and none of berth's does yet
      if (req.options?.type_url) throw unimplemented(`plugin ${JSON.stringify(`${req.type}.${req.id}`)} does not provide additional info`);
      return { plugin: pluginMessage(state), extra: null };
    }),
    Server: unary(async () => ({ uuid, pid: process.pid, pidns: await pidNamespace(), deprecations: [] })),
  };
  return {
    register(server) {
      server.addService(Introspection, handlers);
    },
  };
}

async function pidNamespace(): Promise<number> {
  const link = await fs.readlink('/proc/self/ns/pid').catch(() => '');
  return Number(/\[(\d+)\]/.exec(link)?.[1] ?? 0);
}
