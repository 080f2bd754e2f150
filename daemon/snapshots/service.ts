import type { Info } from '../../api/gen/containerd/services/snapshots/v1/Info.ts';
import type { Kind__Output } from '../../api/gen/containerd/services/snapshots/v1/Kind.ts';
import type { SnapshotsHandlers } from '../../api/gen/containerd/services/snapshots/v1/Snapshots.ts';
import type { Mount as MountMessage } from '../../api/gen/containerd/types/Mount.ts';
import { Snapshots } from '../../api/services.ts';
import { invalidArgument } from '../../core/errors.ts';
import { batches, empty, leaseOf, namespaceOf, serverStream, timestamp, unary } from '../grpc.ts';
import type { GrpcService } from '../plugin.ts';
import type { Kind, Mount } from './snapshotter.ts';
import type { SnapshotInfo, SnapshotStore } from './store.ts';

const kinds: Record<Kind, Kind__Output> = { view: 'VIEW', active: 'ACTIVE', committed: 'COMMITTED' };

const toInfo = (i: SnapshotInfo): Info => ({
  name: i.name,
  parent: i.parent,
  kind: kinds[i.kind],
  created_at: timestamp(i.createdAt),
  updated_at: timestamp(i.updatedAt),
  labels: i.labels,
});

const toMounts = (mounts: Mount[]): MountMessage[] => mounts.map((m) => ({ type: m.type, source: m.source, target: '', options: [...m.options] }));

/** containerd.services.snapshots.v1.Snapshots over every loaded snapshotter, picked by name. */
export function snapshotsService(snapshotters: Map<string, SnapshotStore>): GrpcService {
  const pick = (name: string): SnapshotStore => {
    if (!name) throw invalidArgument('snapshotter argument missing');
    const store = snapshotters.get(name);
    if (!store) throw invalidArgument(`snapshotter not loaded: ${name}`);
    return store;
  };
  const handlers: SnapshotsHandlers = {
    Prepare: unary(async (req, call) => ({
      mounts: toMounts(await pick(req.snapshotter).prepare(namespaceOf(call), req.key, req.parent, req.labels, leaseOf(call))),
    })),
    View: unary(async (req, call) => ({
      mounts: toMounts(await pick(req.snapshotter).view(namespaceOf(call), req.key, req.parent, req.labels, leaseOf(call))),
    })),
    Mounts: unary(async (req, call) => ({ mounts: toMounts(await pick(req.snapshotter).mounts(namespaceOf(call), req.key)) })),
    Commit: unary(async (req, call) => {
      await pick(req.snapshotter).commit(namespaceOf(call), req.name, req.key, req.labels, leaseOf(call));
      return empty;
    }),
    Remove: unary(async (req, call) => {
      await pick(req.snapshotter).remove(namespaceOf(call), req.key);
      return empty;
    }),
    Stat: unary(async (req, call) => ({ info: toInfo(await pick(req.snapshotter).stat(namespaceOf(call), req.key)) })),
    Update: unary(async (req, call) => {
      const store = pick(req.snapshotter);
      if (!req.info) throw invalidArgument('info is required');
      return { info: toInfo(await store.update(namespaceOf(call), req.info.name, req.info.labels, req.update_mask?.paths ?? [])) };
    }),
    List: serverStream(async function* (req, call) {
      const infos = await pick(req.snapshotter).list(namespaceOf(call), req.filters);
      for (const batch of batches(infos)) yield { info: batch.map(toInfo) };
    }),
    Usage: unary(async (req, call) => pick(req.snapshotter).usage(namespaceOf(call), req.key)),
    Cleanup: unary(async (req) => {
      await pick(req.snapshotter).cleanup();
      return empty;
    }),
  };
  return {
    register(server) {
      server.addService(Snapshots, handlers);
    },
  };
}
