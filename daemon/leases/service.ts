import type { LeasesHandlers } from '../../api/gen/containerd/services/leases/v1/Leases.ts';
import { Leases } from '../../api/services.ts';
import { invalidArgument } from '../../core/errors.ts';
import { empty, namespaceOf, timestamp, unary } from '../grpc.ts';
import type { GrpcService } from '../plugin.ts';
import type { Lease, LeaseStore } from './store.ts';

const toLease = (l: Lease) => ({ id: l.id, labels: l.labels, created_at: timestamp(l.createdAt) });

export function leasesService(store: LeaseStore): GrpcService {
  const resource = (r: { id: string; type: string } | null) => {
    if (!r) throw invalidArgument('resource is required');
    return { id: r.id, type: r.type };
  };
  const handlers: LeasesHandlers = {
    Create: unary(async (req, call) => ({ lease: toLease(await store.create(namespaceOf(call), req.id, req.labels)) })),
    Delete: unary(async (req, call) => {
      await store.delete(namespaceOf(call), req.id, req.sync);
      return empty;
    }),
    List: unary(async (req, call) => ({ leases: (await store.list(namespaceOf(call), req.filters)).map(toLease) })),
    AddResource: unary(async (req, call) => {
      await store.addResource(namespaceOf(call), req.id, resource(req.resource));
      return empty;
    }),
    DeleteResource: unary(async (req, call) => {
      await store.deleteResource(namespaceOf(call), req.id, resource(req.resource));
      return empty;
    }),
    ListResources: unary(async (req, call) => ({ resources: await store.listResources(namespaceOf(call), req.id) })),
  };
  return {
    register(server) {
      server.addService(Leases, handlers);
    },
  };
}
