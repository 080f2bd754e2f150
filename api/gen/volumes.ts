import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { CreateVolumeRequest as _berth_services_volumes_v1_CreateVolumeRequest, CreateVolumeRequest__Output as _berth_services_volumes_v1_CreateVolumeRequest__Output } from './berth/services/volumes/v1/CreateVolumeRequest.ts';
import type { CreateVolumeResponse as _berth_services_volumes_v1_CreateVolumeResponse, CreateVolumeResponse__Output as _berth_services_volumes_v1_CreateVolumeResponse__Output } from './berth/services/volumes/v1/CreateVolumeResponse.ts';
import type { DeleteVolumeRequest as _berth_services_volumes_v1_DeleteVolumeRequest, DeleteVolumeRequest__Output as _berth_services_volumes_v1_DeleteVolumeRequest__Output } from './berth/services/volumes/v1/DeleteVolumeRequest.ts';
import type { GetVolumeRequest as _berth_services_volumes_v1_GetVolumeRequest, GetVolumeRequest__Output as _berth_services_volumes_v1_GetVolumeRequest__Output } from './berth/services/volumes/v1/GetVolumeRequest.ts';
import type { GetVolumeResponse as _berth_services_volumes_v1_GetVolumeResponse, GetVolumeResponse__Output as _berth_services_volumes_v1_GetVolumeResponse__Output } from './berth/services/volumes/v1/GetVolumeResponse.ts';
import type { ListVolumesRequest as _berth_services_volumes_v1_ListVolumesRequest, ListVolumesRequest__Output as _berth_services_volumes_v1_ListVolumesRequest__Output } from './berth/services/volumes/v1/ListVolumesRequest.ts';
import type { ListVolumesResponse as _berth_services_volumes_v1_ListVolumesResponse, ListVolumesResponse__Output as _berth_services_volumes_v1_ListVolumesResponse__Output } from './berth/services/volumes/v1/ListVolumesResponse.ts';
import type { PruneVolumesRequest as _berth_services_volumes_v1_PruneVolumesRequest, PruneVolumesRequest__Output as _berth_services_volumes_v1_PruneVolumesRequest__Output } from './berth/services/volumes/v1/PruneVolumesRequest.ts';
import type { PruneVolumesResponse as _berth_services_volumes_v1_PruneVolumesResponse, PruneVolumesResponse__Output as _berth_services_volumes_v1_PruneVolumesResponse__Output } from './berth/services/volumes/v1/PruneVolumesResponse.ts';
import type { Volume as _berth_services_volumes_v1_Volume, Volume__Output as _berth_services_volumes_v1_Volume__Output } from './berth/services/volumes/v1/Volume.ts';
import type { VolumesClient as _berth_services_volumes_v1_VolumesClient, VolumesDefinition as _berth_services_volumes_v1_VolumesDefinition } from './berth/services/volumes/v1/Volumes.ts';
import type { Empty as _google_protobuf_Empty, Empty__Output as _google_protobuf_Empty__Output } from './google/protobuf/Empty.ts';
import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from './google/protobuf/Timestamp.ts';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  berth: {
    services: {
      volumes: {
        v1: {
          CreateVolumeRequest: MessageTypeDefinition<_berth_services_volumes_v1_CreateVolumeRequest, _berth_services_volumes_v1_CreateVolumeRequest__Output>
          CreateVolumeResponse: MessageTypeDefinition<_berth_services_volumes_v1_CreateVolumeResponse, _berth_services_volumes_v1_CreateVolumeResponse__Output>
          DeleteVolumeRequest: MessageTypeDefinition<_berth_services_volumes_v1_DeleteVolumeRequest, _berth_services_volumes_v1_DeleteVolumeRequest__Output>
          GetVolumeRequest: MessageTypeDefinition<_berth_services_volumes_v1_GetVolumeRequest, _berth_services_volumes_v1_GetVolumeRequest__Output>
          GetVolumeResponse: MessageTypeDefinition<_berth_services_volumes_v1_GetVolumeResponse, _berth_services_volumes_v1_GetVolumeResponse__Output>
          ListVolumesRequest: MessageTypeDefinition<_berth_services_volumes_v1_ListVolumesRequest, _berth_services_volumes_v1_ListVolumesRequest__Output>
          ListVolumesResponse: MessageTypeDefinition<_berth_services_volumes_v1_ListVolumesResponse, _berth_services_volumes_v1_ListVolumesResponse__Output>
          PruneVolumesRequest: MessageTypeDefinition<_berth_services_volumes_v1_PruneVolumesRequest, _berth_services_volumes_v1_PruneVolumesRequest__Output>
          PruneVolumesResponse: MessageTypeDefinition<_berth_services_volumes_v1_PruneVolumesResponse, _berth_services_volumes_v1_PruneVolumesResponse__Output>
          Volume: MessageTypeDefinition<_berth_services_volumes_v1_Volume, _berth_services_volumes_v1_Volume__Output>
          Volumes: SubtypeConstructor<typeof grpc.Client, _berth_services_volumes_v1_VolumesClient> & { service: _berth_services_volumes_v1_VolumesDefinition }
        }
      }
    }
  }
  google: {
    protobuf: {
      Empty: MessageTypeDefinition<_google_protobuf_Empty, _google_protobuf_Empty__Output>
      Timestamp: MessageTypeDefinition<_google_protobuf_Timestamp, _google_protobuf_Timestamp__Output>
    }
  }
}

