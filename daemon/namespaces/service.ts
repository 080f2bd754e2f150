import type { NamespacesHandlers } from '../../api/gen/containerd/services/namespaces/v1/Namespaces.ts';
import { Namespaces } from '../../api/services.ts';
import { invalidArgument } from '../../core/errors.ts';
import { empty, unary } from '../grpc.ts';
import type { GrpcService } from '../plugin.ts';
import type { NamespaceStore } from './store.ts';

/** containerd.services.namespaces.v1.Namespaces: the namespace comes from the request, not the header. */
export function namespacesService(store: NamespaceStore): GrpcService {
  const handlers: NamespacesHandlers = {
    Get: unary(async (req) => ({ namespace: await store.get(req.name) })),
    List: unary(async () => ({ namespaces: await store.list() })),
    Create: unary(async (req) => {
      if (!req.namespace) throw invalidArgument('namespace is required');
      return { namespace: await store.create(req.namespace.name, req.namespace.labels) };
    }),
    Update: unary(async (req) => {
      if (!req.namespace) throw invalidArgument('namespace is required');
      return { namespace: await store.update(req.namespace.name, req.namespace.labels, req.update_mask?.paths ?? []) };
    }),
    Delete: unary(async (req) => {
      await store.delete(req.name);
      return empty;
    }),
  };
  return {
    register(server) {
      server.addService(Namespaces, handlers);
    },
  };
}
