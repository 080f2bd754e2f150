import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { AttachmentRequest as _berth_services_networks_v1_AttachmentRequest, AttachmentRequest__Output as _berth_services_networks_v1_AttachmentRequest__Output } from './berth/services/networks/v1/AttachmentRequest.ts';
import type { AttachmentResponse as _berth_services_networks_v1_AttachmentResponse, AttachmentResponse__Output as _berth_services_networks_v1_AttachmentResponse__Output } from './berth/services/networks/v1/AttachmentResponse.ts';
import type { ContainerNetworking as _berth_services_networks_v1_ContainerNetworking, ContainerNetworking__Output as _berth_services_networks_v1_ContainerNetworking__Output } from './berth/services/networks/v1/ContainerNetworking.ts';
import type { CreateNetworkRequest as _berth_services_networks_v1_CreateNetworkRequest, CreateNetworkRequest__Output as _berth_services_networks_v1_CreateNetworkRequest__Output } from './berth/services/networks/v1/CreateNetworkRequest.ts';
import type { CreateNetworkResponse as _berth_services_networks_v1_CreateNetworkResponse, CreateNetworkResponse__Output as _berth_services_networks_v1_CreateNetworkResponse__Output } from './berth/services/networks/v1/CreateNetworkResponse.ts';
import type { DeleteNetworkRequest as _berth_services_networks_v1_DeleteNetworkRequest, DeleteNetworkRequest__Output as _berth_services_networks_v1_DeleteNetworkRequest__Output } from './berth/services/networks/v1/DeleteNetworkRequest.ts';
import type { GetNetworkRequest as _berth_services_networks_v1_GetNetworkRequest, GetNetworkRequest__Output as _berth_services_networks_v1_GetNetworkRequest__Output } from './berth/services/networks/v1/GetNetworkRequest.ts';
import type { GetNetworkResponse as _berth_services_networks_v1_GetNetworkResponse, GetNetworkResponse__Output as _berth_services_networks_v1_GetNetworkResponse__Output } from './berth/services/networks/v1/GetNetworkResponse.ts';
import type { ListNetworksRequest as _berth_services_networks_v1_ListNetworksRequest, ListNetworksRequest__Output as _berth_services_networks_v1_ListNetworksRequest__Output } from './berth/services/networks/v1/ListNetworksRequest.ts';
import type { ListNetworksResponse as _berth_services_networks_v1_ListNetworksResponse, ListNetworksResponse__Output as _berth_services_networks_v1_ListNetworksResponse__Output } from './berth/services/networks/v1/ListNetworksResponse.ts';
import type { Network as _berth_services_networks_v1_Network, Network__Output as _berth_services_networks_v1_Network__Output } from './berth/services/networks/v1/Network.ts';
import type { NetworkAttachment as _berth_services_networks_v1_NetworkAttachment, NetworkAttachment__Output as _berth_services_networks_v1_NetworkAttachment__Output } from './berth/services/networks/v1/NetworkAttachment.ts';
import type { NetworksClient as _berth_services_networks_v1_NetworksClient, NetworksDefinition as _berth_services_networks_v1_NetworksDefinition } from './berth/services/networks/v1/Networks.ts';
import type { PortMapping as _berth_services_networks_v1_PortMapping, PortMapping__Output as _berth_services_networks_v1_PortMapping__Output } from './berth/services/networks/v1/PortMapping.ts';
import type { Empty as _google_protobuf_Empty, Empty__Output as _google_protobuf_Empty__Output } from './google/protobuf/Empty.ts';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  berth: {
    services: {
      networks: {
        v1: {
          AttachmentRequest: MessageTypeDefinition<_berth_services_networks_v1_AttachmentRequest, _berth_services_networks_v1_AttachmentRequest__Output>
          AttachmentResponse: MessageTypeDefinition<_berth_services_networks_v1_AttachmentResponse, _berth_services_networks_v1_AttachmentResponse__Output>
          ContainerNetworking: MessageTypeDefinition<_berth_services_networks_v1_ContainerNetworking, _berth_services_networks_v1_ContainerNetworking__Output>
          CreateNetworkRequest: MessageTypeDefinition<_berth_services_networks_v1_CreateNetworkRequest, _berth_services_networks_v1_CreateNetworkRequest__Output>
          CreateNetworkResponse: MessageTypeDefinition<_berth_services_networks_v1_CreateNetworkResponse, _berth_services_networks_v1_CreateNetworkResponse__Output>
          DeleteNetworkRequest: MessageTypeDefinition<_berth_services_networks_v1_DeleteNetworkRequest, _berth_services_networks_v1_DeleteNetworkRequest__Output>
          GetNetworkRequest: MessageTypeDefinition<_berth_services_networks_v1_GetNetworkRequest, _berth_services_networks_v1_GetNetworkRequest__Output>
          GetNetworkResponse: MessageTypeDefinition<_berth_services_networks_v1_GetNetworkResponse, _berth_services_networks_v1_GetNetworkResponse__Output>
          ListNetworksRequest: MessageTypeDefinition<_berth_services_networks_v1_ListNetworksRequest, _berth_services_networks_v1_ListNetworksRequest__Output>
          ListNetworksResponse: MessageTypeDefinition<_berth_services_networks_v1_ListNetworksResponse, _berth_services_networks_v1_ListNetworksResponse__Output>
          Network: MessageTypeDefinition<_berth_services_networks_v1_Network, _berth_services_networks_v1_Network__Output>
          NetworkAttachment: MessageTypeDefinition<_berth_services_networks_v1_NetworkAttachment, _berth_services_networks_v1_NetworkAttachment__Output>
          Networks: SubtypeConstructor<typeof grpc.Client, _berth_services_networks_v1_NetworksClient> & { service: _berth_services_networks_v1_NetworksDefinition }
          PortMapping: MessageTypeDefinition<_berth_services_networks_v1_PortMapping, _berth_services_networks_v1_PortMapping__Output>
        }
      }
    }
  }
  google: {
    protobuf: {
      Empty: MessageTypeDefinition<_google_protobuf_Empty, _google_protobuf_Empty__Output>
    }
  }
}

