import type { Image__Output, Image as ImageMessage } from '../../api/gen/containerd/services/images/v1/Image.ts';
import type { ImagesHandlers } from '../../api/gen/containerd/services/images/v1/Images.ts';
import { Images } from '../../api/services.ts';
import { invalidArgument } from '../../core/errors.ts';
import { empty, namespaceOf, timestamp, unary } from '../grpc.ts';
import type { GrpcService } from '../plugin.ts';
import type { Image, ImageStore } from './store.ts';

const toMessage = (i: Image): ImageMessage => ({
  name: i.name,
  labels: i.labels,
  target: { media_type: i.target.mediaType, digest: i.target.digest, size: i.target.size, annotations: i.target.annotations },
  created_at: timestamp(i.createdAt),
  updated_at: timestamp(i.updatedAt),
});

function fromMessage(m: Image__Output | null) {
  if (!m) throw invalidArgument('image is required');
  const t = m.target;
  return {
    name: m.name,
    labels: m.labels,
    target: { mediaType: t?.media_type ?? '', digest: t?.digest ?? '', size: Number(t?.size ?? 0), annotations: t?.annotations ?? {} },
  };
}

/** containerd.services.images.v1.Images over the image store. */
export function imagesService(store: ImageStore): GrpcService {
  const handlers: ImagesHandlers = {
    Get: unary(async (req, call) => ({ image: toMessage(await store.get(namespaceOf(call), req.name)) })),
    List: unary(async (req, call) => ({ images: (await store.list(namespaceOf(call), req.filters)).map(toMessage) })),
    Create: unary(async (req, call) => ({ image: toMessage(await store.create(namespaceOf(call), fromMessage(req.image))) })),
    Update: unary(async (req, call) => ({
      image: toMessage(await store.update(namespaceOf(call), fromMessage(req.image), req.update_mask?.paths ?? [])),
    })),
    Delete: unary(async (req, call) => {
      await store.delete(namespaceOf(call), req.name, req.sync);
      return empty;
    }),
  };
  return {
    register(server) {
      server.addService(Images, handlers);
    },
  };
}
