import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { ImageCreate as _containerd_services_images_v1_ImageCreate, ImageCreate__Output as _containerd_services_images_v1_ImageCreate__Output } from './containerd/services/images/v1/ImageCreate.ts';
import type { ImageDelete as _containerd_services_images_v1_ImageDelete, ImageDelete__Output as _containerd_services_images_v1_ImageDelete__Output } from './containerd/services/images/v1/ImageDelete.ts';
import type { ImageUpdate as _containerd_services_images_v1_ImageUpdate, ImageUpdate__Output as _containerd_services_images_v1_ImageUpdate__Output } from './containerd/services/images/v1/ImageUpdate.ts';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  containerd: {
    services: {
      images: {
        v1: {
          ImageCreate: MessageTypeDefinition<_containerd_services_images_v1_ImageCreate, _containerd_services_images_v1_ImageCreate__Output>
          ImageDelete: MessageTypeDefinition<_containerd_services_images_v1_ImageDelete, _containerd_services_images_v1_ImageDelete__Output>
          ImageUpdate: MessageTypeDefinition<_containerd_services_images_v1_ImageUpdate, _containerd_services_images_v1_ImageUpdate__Output>
        }
      }
    }
  }
}

