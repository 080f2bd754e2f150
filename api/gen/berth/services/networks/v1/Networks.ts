// Original file: api/proto/berth/networks/v1/networks.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { AttachmentRequest as _berth_services_networks_v1_AttachmentRequest, AttachmentRequest__Output as _berth_services_networks_v1_AttachmentRequest__Output } from '../../../../berth/services/networks/v1/AttachmentRequest.ts';
import type { AttachmentResponse as _berth_services_networks_v1_AttachmentResponse, AttachmentResponse__Output as _berth_services_networks_v1_AttachmentResponse__Output } from '../../../../berth/services/networks/v1/AttachmentResponse.ts';
import type { CreateNetworkRequest as _berth_services_networks_v1_CreateNetworkRequest, CreateNetworkRequest__Output as _berth_services_networks_v1_CreateNetworkRequest__Output } from '../../../../berth/services/networks/v1/CreateNetworkRequest.ts';
import type { CreateNetworkResponse as _berth_services_networks_v1_CreateNetworkResponse, CreateNetworkResponse__Output as _berth_services_networks_v1_CreateNetworkResponse__Output } from '../../../../berth/services/networks/v1/CreateNetworkResponse.ts';
import type { DeleteNetworkRequest as _berth_services_networks_v1_DeleteNetworkRequest, DeleteNetworkRequest__Output as _berth_services_networks_v1_DeleteNetworkRequest__Output } from '../../../../berth/services/networks/v1/DeleteNetworkRequest.ts';
import type { Empty as _google_protobuf_Empty, Empty__Output as _google_protobuf_Empty__Output } from '../../../../google/protobuf/Empty.ts';
import type { GetNetworkRequest as _berth_services_networks_v1_GetNetworkRequest, GetNetworkRequest__Output as _berth_services_networks_v1_GetNetworkRequest__Output } from '../../../../berth/services/networks/v1/GetNetworkRequest.ts';
import type { GetNetworkResponse as _berth_services_networks_v1_GetNetworkResponse, GetNetworkResponse__Output as _berth_services_networks_v1_GetNetworkResponse__Output } from '../../../../berth/services/networks/v1/GetNetworkResponse.ts';
import type { ListNetworksRequest as _berth_services_networks_v1_ListNetworksRequest, ListNetworksRequest__Output as _berth_services_networks_v1_ListNetworksRequest__Output } from '../../../../berth/services/networks/v1/ListNetworksRequest.ts';
import type { ListNetworksResponse as _berth_services_networks_v1_ListNetworksResponse, ListNetworksResponse__Output as _berth_services_networks_v1_ListNetworksResponse__Output } from '../../../../berth/services/networks/v1/ListNetworksResponse.ts';

export interface NetworksClient extends grpc.Client {
  Attachment(argument: _berth_services_networks_v1_AttachmentRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_berth_services_networks_v1_AttachmentResponse__Output>): grpc.ClientUnaryCall;
  Attachment(argument: _berth_services_networks_v1_AttachmentRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_berth_services_networks_v1_AttachmentResponse__Output>): grpc.ClientUnaryCall;
  Attachment(argument: _berth_services_networks_v1_AttachmentRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_berth_services_networks_v1_AttachmentResponse__Output>): grpc.ClientUnaryCall;
  Attachment(argument: _berth_services_networks_v1_AttachmentRequest, callback: grpc.requestCallback<_berth_services_networks_v1_AttachmentResponse__Output>): grpc.ClientUnaryCall;
  attachment(argument: _berth_services_networks_v1_AttachmentRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_berth_services_networks_v1_AttachmentResponse__Output>): grpc.ClientUnaryCall;
  attachment(argument: _berth_services_networks_v1_AttachmentRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_berth_services_networks_v1_AttachmentResponse__Output>): grpc.ClientUnaryCall;
  attachment(argument: _berth_services_networks_v1_AttachmentRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_berth_services_networks_v1_AttachmentResponse__Output>): grpc.ClientUnaryCall;
  attachment(argument: _berth_services_networks_v1_AttachmentRequest, callback: grpc.requestCallback<_berth_services_networks_v1_AttachmentResponse__Output>): grpc.ClientUnaryCall;
  
  Create(argument: _berth_services_networks_v1_CreateNetworkRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_berth_services_networks_v1_CreateNetworkResponse__Output>): grpc.ClientUnaryCall;
  Create(argument: _berth_services_networks_v1_CreateNetworkRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_berth_services_networks_v1_CreateNetworkResponse__Output>): grpc.ClientUnaryCall;
  Create(argument: _berth_services_networks_v1_CreateNetworkRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_berth_services_networks_v1_CreateNetworkResponse__Output>): grpc.ClientUnaryCall;
  Create(argument: _berth_services_networks_v1_CreateNetworkRequest, callback: grpc.requestCallback<_berth_services_networks_v1_CreateNetworkResponse__Output>): grpc.ClientUnaryCall;
  create(argument: _berth_services_networks_v1_CreateNetworkRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_berth_services_networks_v1_CreateNetworkResponse__Output>): grpc.ClientUnaryCall;
  create(argument: _berth_services_networks_v1_CreateNetworkRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_berth_services_networks_v1_CreateNetworkResponse__Output>): grpc.ClientUnaryCall;
  create(argument: _berth_services_networks_v1_CreateNetworkRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_berth_services_networks_v1_CreateNetworkResponse__Output>): grpc.ClientUnaryCall;
  create(argument: _berth_services_networks_v1_CreateNetworkRequest, callback: grpc.requestCallback<_berth_services_networks_v1_CreateNetworkResponse__Output>): grpc.ClientUnaryCall;
  
  Delete(argument: _berth_services_networks_v1_DeleteNetworkRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  Delete(argument: _berth_services_networks_v1_DeleteNetworkRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  Delete(argument: _berth_services_networks_v1_DeleteNetworkRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  Delete(argument: _berth_services_networks_v1_DeleteNetworkRequest, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  delete(argument: _berth_services_networks_v1_DeleteNetworkRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  delete(argument: _berth_services_networks_v1_DeleteNetworkRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  delete(argument: _berth_services_networks_v1_DeleteNetworkRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  delete(argument: _berth_services_networks_v1_DeleteNetworkRequest, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  
  Get(argument: _berth_services_networks_v1_GetNetworkRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_berth_services_networks_v1_GetNetworkResponse__Output>): grpc.ClientUnaryCall;
  Get(argument: _berth_services_networks_v1_GetNetworkRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_berth_services_networks_v1_GetNetworkResponse__Output>): grpc.ClientUnaryCall;
  Get(argument: _berth_services_networks_v1_GetNetworkRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_berth_services_networks_v1_GetNetworkResponse__Output>): grpc.ClientUnaryCall;
  Get(argument: _berth_services_networks_v1_GetNetworkRequest, callback: grpc.requestCallback<_berth_services_networks_v1_GetNetworkResponse__Output>): grpc.ClientUnaryCall;
  get(argument: _berth_services_networks_v1_GetNetworkRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_berth_services_networks_v1_GetNetworkResponse__Output>): grpc.ClientUnaryCall;
  get(argument: _berth_services_networks_v1_GetNetworkRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_berth_services_networks_v1_GetNetworkResponse__Output>): grpc.ClientUnaryCall;
  get(argument: _berth_services_networks_v1_GetNetworkRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_berth_services_networks_v1_GetNetworkResponse__Output>): grpc.ClientUnaryCall;
  get(argument: _berth_services_networks_v1_GetNetworkRequest, callback: grpc.requestCallback<_berth_services_networks_v1_GetNetworkResponse__Output>): grpc.ClientUnaryCall;
  
  List(argument: _berth_services_networks_v1_ListNetworksRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_berth_services_networks_v1_ListNetworksResponse__Output>): grpc.ClientUnaryCall;
  List(argument: _berth_services_networks_v1_ListNetworksRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_berth_services_networks_v1_ListNetworksResponse__Output>): grpc.ClientUnaryCall;
  List(argument: _berth_services_networks_v1_ListNetworksRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_berth_services_networks_v1_ListNetworksResponse__Output>): grpc.ClientUnaryCall;
  List(argument: _berth_services_networks_v1_ListNetworksRequest, callback: grpc.requestCallback<_berth_services_networks_v1_ListNetworksResponse__Output>): grpc.ClientUnaryCall;
  list(argument: _berth_services_networks_v1_ListNetworksRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_berth_services_networks_v1_ListNetworksResponse__Output>): grpc.ClientUnaryCall;
  list(argument: _berth_services_networks_v1_ListNetworksRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_berth_services_networks_v1_ListNetworksResponse__Output>): grpc.ClientUnaryCall;
  list(argument: _berth_services_networks_v1_ListNetworksRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_berth_services_networks_v1_ListNetworksResponse__Output>): grpc.ClientUnaryCall;
  list(argument: _berth_services_networks_v1_ListNetworksRequest, callback: grpc.requestCallback<_berth_services_networks_v1_ListNetworksResponse__Output>): grpc.ClientUnaryCall;
  
}

export interface NetworksHandlers extends grpc.UntypedServiceImplementation {
  Attachment: grpc.handleUnaryCall<_berth_services_networks_v1_AttachmentRequest__Output, _berth_services_networks_v1_AttachmentResponse>;
  
  Create: grpc.handleUnaryCall<_berth_services_networks_v1_CreateNetworkRequest__Output, _berth_services_networks_v1_CreateNetworkResponse>;
  
  Delete: grpc.handleUnaryCall<_berth_services_networks_v1_DeleteNetworkRequest__Output, _google_protobuf_Empty>;
  
  Get: grpc.handleUnaryCall<_berth_services_networks_v1_GetNetworkRequest__Output, _berth_services_networks_v1_GetNetworkResponse>;
  
  List: grpc.handleUnaryCall<_berth_services_networks_v1_ListNetworksRequest__Output, _berth_services_networks_v1_ListNetworksResponse>;
  
}

export interface NetworksDefinition extends grpc.ServiceDefinition {
  Attachment: MethodDefinition<_berth_services_networks_v1_AttachmentRequest, _berth_services_networks_v1_AttachmentResponse, _berth_services_networks_v1_AttachmentRequest__Output, _berth_services_networks_v1_AttachmentResponse__Output>
  Create: MethodDefinition<_berth_services_networks_v1_CreateNetworkRequest, _berth_services_networks_v1_CreateNetworkResponse, _berth_services_networks_v1_CreateNetworkRequest__Output, _berth_services_networks_v1_CreateNetworkResponse__Output>
  Delete: MethodDefinition<_berth_services_networks_v1_DeleteNetworkRequest, _google_protobuf_Empty, _berth_services_networks_v1_DeleteNetworkRequest__Output, _google_protobuf_Empty__Output>
  Get: MethodDefinition<_berth_services_networks_v1_GetNetworkRequest, _berth_services_networks_v1_GetNetworkResponse, _berth_services_networks_v1_GetNetworkRequest__Output, _berth_services_networks_v1_GetNetworkResponse__Output>
  List: MethodDefinition<_berth_services_networks_v1_ListNetworksRequest, _berth_services_networks_v1_ListNetworksResponse, _berth_services_networks_v1_ListNetworksRequest__Output, _berth_services_networks_v1_ListNetworksResponse__Output>
}
