import type * as grpc from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { containerdService } from '../../proto/api.ts';
import type { IntrospectionHandlers } from '../../proto/gen/containerd/services/introspection/v1/Introspection.ts';
import type { Plugin as PluginMessage } from '../../proto/gen/containerd/services/introspection/v1/Plugin.ts';
import { parseFilters, adaptFields } from '../filters.ts';
import { unary } from '../grpc.ts';
import type { GrpcService, PluginRegistry } from '../plugin.ts';


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

export function introspectionService(registry: PluginRegistry, uuid: string): GrpcService {
  const handlers: IntrospectionHandlers = {
    Plugins: unary(async (req) => {
      const match = parseFilters(req.filters);
      const plugins: PluginMessage[] = registry.states
        .filter((s) => match(adaptFields({ type: s.type, id: s.id }, { exports: s.exports })))
        .map((s) => ({
          type: s.type,
          id: s.id,
          requires: s.requires,
          platforms: s.platforms,
          exports: s.exports,
          capabilities: s.capabilities,
          init_err: s.error ? { code: s.error.skipped ? 9 : 2, message: s.error.message, details: [] } : null,
        }));
      return { plugins };
    }),
    Server: unary(async () => ({ uuid, pid: process.pid, pidns: await pidNamespace(), deprecations: [] })),
  };
  return {
    register(server) {
      server.addService(containerdService('introspection', 'Introspection').service, handlers as unknown as grpc.UntypedServiceImplementation);
    },
  };
}

async function pidNamespace(): Promise<number> {
  const link = await fs.readlink('/proc/self/ns/pid').catch(() => '');
  return Number(/\[(\d+)\]/.exec(link)?.[1] ?? 0);
}
