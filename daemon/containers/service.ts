import type { Container__Output, Container as ContainerMessage } from '../../api/gen/containerd/services/containers/v1/Container.ts';
import type { ContainersHandlers } from '../../api/gen/containerd/services/containers/v1/Containers.ts';
import { Containers } from '../../api/services.ts';
import { GrpcStatus } from '../../core/errors.ts';
import { empty, namespaceOf, serverStream, timestamp, unary } from '../grpc.ts';
import type { GrpcService } from '../plugin.ts';
import { type AnyValue, anyFromMessage, anyToMessage, type Container, type ContainerInput, type ContainerStore } from './store.ts';

const toMessage = (c: Container): ContainerMessage => ({
  id: c.id,
  labels: c.labels,
  image: c.image,
  runtime: { name: c.runtime.name, options: anyToMessage(c.runtime.options) },
  spec: anyToMessage(c.spec),
  snapshotter: c.snapshotter,
  snapshot_key: c.snapshotKey,
  created_at: timestamp(c.createdAt),
  updated_at: timestamp(c.updatedAt),
  extensions: Object.fromEntries(Object.entries(c.extensions).map(([k, v]) => [k, anyToMessage(v)!])),
  sandbox: c.sandbox,
});

// gogo's non-nullable Container: a request without one is a request with an empty one
function fromMessage(m: Container__Output | null): ContainerInput {
  m ??= {
    id: '',
    labels: {},
    image: '',
    runtime: null,
    spec: null,
    snapshotter: '',
    snapshot_key: '',
    created_at: null,
    updated_at: null,
    extensions: {},
    sandbox: '',
  };
  const extensions: Record<string, AnyValue> = {};
  for (const [k, v] of Object.entries(m.extensions ?? {})) extensions[k] = anyFromMessage(v) ?? { typeUrl: '', value: Buffer.alloc(0) };
  return {
    id: m.id,
    labels: { ...m.labels },
    image: m.image,
    runtime: { name: m.runtime?.name ?? '', options: anyFromMessage(m.runtime?.options) },
    spec: anyFromMessage(m.spec),
    snapshotter: m.snapshotter,
    snapshotKey: m.snapshot_key,
    extensions,
    sandbox: m.sandbox ?? '',
  };
}

/** containerd.services.containers.v1.Containers over the container store. */
export function containersService(store: ContainerStore): GrpcService {
  const handlers: ContainersHandlers = {
    Get: unary(async (req, call) => ({ container: toMessage(await store.get(namespaceOf(call), req.id)) })),
    List: unary(async (req, call) => ({ containers: (await store.list(namespaceOf(call), req.filters)).map(toMessage) })),
    ListStream: serverStream(async function* (req, call) {
      for (const c of await store.list(namespaceOf(call), req.filters)) yield { container: toMessage(c) };
    }),
    Create: unary(async (req, call) => ({ container: toMessage(await store.create(namespaceOf(call), fromMessage(req.container))) })),
    Update: unary(async (req, call) => {
      // containerd answers this one with a bare status, without the errdefs suffix
      if (!req.container?.id) throw { code: GrpcStatus.INVALID_ARGUMENT, details: 'Container.ID required' };
      return { container: toMessage(await store.update(namespaceOf(call), fromMessage(req.container), req.update_mask?.paths ?? [])) };
    }),
    Delete: unary(async (req, call) => {
      await store.delete(namespaceOf(call), req.id);
      return empty;
    }),
  };
  return {
    register(server) {
      server.addService(Containers, handlers);
    },
  };
}
