import type { Volume as VolumeMessage } from '../../api/gen/berth/services/volumes/v1/Volume.ts';
import type { VolumesHandlers } from '../../api/gen/berth/services/volumes/v1/Volumes.ts';
import { Volumes } from '../../api/services.ts';
import { invalidArgument } from '../../core/errors.ts';
import { empty, namespaceOf, timestamp, unary } from '../grpc.ts';
import type { GrpcService } from '../plugin.ts';
import type { Volume, VolumeStore } from './store.ts';

const toMessage = (v: Volume): VolumeMessage => ({
  name: v.name,
  labels: v.labels,
  created_at: timestamp(v.createdAt),
  anonymous: v.anonymous,
  mountpoint: v.mountpoint,
});

const required = (name: string) => {
  if (!name) throw invalidArgument('name is required');
  return name;
};

/** berth.services.volumes.v1.Volumes over the volume store (see volumes.proto). */
export function volumesService(store: VolumeStore): GrpcService {
  const handlers: VolumesHandlers = {
    Create: unary(async (req, call) => {
      const { volume, created } = await store.create(namespaceOf(call), { name: req.name, labels: req.labels, anonymous: req.anonymous });
      return { volume: toMessage(volume), created };
    }),
    Get: unary(async (req, call) => {
      const ns = namespaceOf(call);
      const volume = await store.get(ns, required(req.name));
      return { volume: toMessage(volume), used_by: await store.usedBy(ns, volume.name) };
    }),
    List: unary(async (req, call) => ({ volumes: (await store.list(namespaceOf(call), req.filters)).map(toMessage) })),
    Delete: unary(async (req, call) => {
      await store.remove(namespaceOf(call), required(req.name));
      return empty;
    }),
    Prune: unary(async (req, call) => {
      if (req.filters.some((f) => f.startsWith('dangling='))) throw invalidArgument('prune removes dangling volumes only: a dangling filter does not apply');
      const { removed, reclaimed } = await store.prune(namespaceOf(call), { all: req.all, filters: req.filters });
      return { removed: removed.map(toMessage), reclaimed_bytes: reclaimed };
    }),
  };
  return {
    register(server) {
      server.addService(Volumes, handlers);
    },
  };
}
