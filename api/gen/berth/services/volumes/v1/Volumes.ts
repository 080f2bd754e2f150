// Original file: api/proto/berth/volumes/v1/volumes.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { CreateVolumeRequest as _berth_services_volumes_v1_CreateVolumeRequest, CreateVolumeRequest__Output as _berth_services_volumes_v1_CreateVolumeRequest__Output } from '../../../../berth/services/volumes/v1/CreateVolumeRequest.ts';
import type { CreateVolumeResponse as _berth_services_volumes_v1_CreateVolumeResponse, CreateVolumeResponse__Output as _berth_services_volumes_v1_CreateVolumeResponse__Output } from '../../../../berth/services/volumes/v1/CreateVolumeResponse.ts';
import type { DeleteVolumeRequest as _berth_services_volumes_v1_DeleteVolumeRequest, DeleteVolumeRequest__Output as _berth_services_volumes_v1_DeleteVolumeRequest__Output } from '../../../../berth/services/volumes/v1/DeleteVolumeRequest.ts';
import type { Empty as _google_protobuf_Empty, Empty__Output as _google_protobuf_Empty__Output } from '../../../../google/protobuf/Empty.ts';
import type { GetVolumeRequest as _berth_services_volumes_v1_GetVolumeRequest, GetVolumeRequest__Output as _berth_services_volumes_v1_GetVolumeRequest__Output } from '../../../../berth/services/volumes/v1/GetVolumeRequest.ts';
import type { GetVolumeResponse as _berth_services_volumes_v1_GetVolumeResponse, GetVolumeResponse__Output as _berth_services_volumes_v1_GetVolumeResponse__Output } from '../../../../berth/services/volumes/v1/GetVolumeResponse.ts';
import type { ListVolumesRequest as _berth_services_volumes_v1_ListVolumesRequest, ListVolumesRequest__Output as _berth_services_volumes_v1_ListVolumesRequest__Output } from '../../../../berth/services/volumes/v1/ListVolumesRequest.ts';
import type { ListVolumesResponse as _berth_services_volumes_v1_ListVolumesResponse, ListVolumesResponse__Output as _berth_services_volumes_v1_ListVolumesResponse__Output } from '../../../../berth/services/volumes/v1/ListVolumesResponse.ts';
import type { PruneVolumesRequest as _berth_services_volumes_v1_PruneVolumesRequest, PruneVolumesRequest__Output as _berth_services_volumes_v1_PruneVolumesRequest__Output } from '../../../../berth/services/volumes/v1/PruneVolumesRequest.ts';
import type { PruneVolumesResponse as _berth_services_volumes_v1_PruneVolumesResponse, PruneVolumesResponse__Output as _berth_services_volumes_v1_PruneVolumesResponse__Output } from '../../../../berth/services/volumes/v1/PruneVolumesResponse.ts';

export interface VolumesClient extends grpc.Client {
  Create(argument: _berth_services_volumes_v1_CreateVolumeRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_berth_services_volumes_v1_CreateVolumeResponse__Output>): grpc.ClientUnaryCall;
  Create(argument: _berth_services_volumes_v1_CreateVolumeRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_berth_services_volumes_v1_CreateVolumeResponse__Output>): grpc.ClientUnaryCall;
  Create(argument: _berth_services_volumes_v1_CreateVolumeRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_berth_services_volumes_v1_CreateVolumeResponse__Output>): grpc.ClientUnaryCall;
  Create(argument: _berth_services_volumes_v1_CreateVolumeRequest, callback: grpc.requestCallback<_berth_services_volumes_v1_CreateVolumeResponse__Output>): grpc.ClientUnaryCall;
  create(argument: _berth_services_volumes_v1_CreateVolumeRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_berth_services_volumes_v1_CreateVolumeResponse__Output>): grpc.ClientUnaryCall;
  create(argument: _berth_services_volumes_v1_CreateVolumeRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_berth_services_volumes_v1_CreateVolumeResponse__Output>): grpc.ClientUnaryCall;
  create(argument: _berth_services_volumes_v1_CreateVolumeRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_berth_services_volumes_v1_CreateVolumeResponse__Output>): grpc.ClientUnaryCall;
  create(argument: _berth_services_volumes_v1_CreateVolumeRequest, callback: grpc.requestCallback<_berth_services_volumes_v1_CreateVolumeResponse__Output>): grpc.ClientUnaryCall;
  
  Delete(argument: _berth_services_volumes_v1_DeleteVolumeRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  Delete(argument: _berth_services_volumes_v1_DeleteVolumeRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  Delete(argument: _berth_services_volumes_v1_DeleteVolumeRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  Delete(argument: _berth_services_volumes_v1_DeleteVolumeRequest, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  delete(argument: _berth_services_volumes_v1_DeleteVolumeRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  delete(argument: _berth_services_volumes_v1_DeleteVolumeRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  delete(argument: _berth_services_volumes_v1_DeleteVolumeRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  delete(argument: _berth_services_volumes_v1_DeleteVolumeRequest, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  
  Get(argument: _berth_services_volumes_v1_GetVolumeRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_berth_services_volumes_v1_GetVolumeResponse__Output>): grpc.ClientUnaryCall;
  Get(argument: _berth_services_volumes_v1_GetVolumeRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_berth_services_volumes_v1_GetVolumeResponse__Output>): grpc.ClientUnaryCall;
  Get(argument: _berth_services_volumes_v1_GetVolumeRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_berth_services_volumes_v1_GetVolumeResponse__Output>): grpc.ClientUnaryCall;
  Get(argument: _berth_services_volumes_v1_GetVolumeRequest, callback: grpc.requestCallback<_berth_services_volumes_v1_GetVolumeResponse__Output>): grpc.ClientUnaryCall;
  get(argument: _berth_services_volumes_v1_GetVolumeRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_berth_services_volumes_v1_GetVolumeResponse__Output>): grpc.ClientUnaryCall;
  get(argument: _berth_services_volumes_v1_GetVolumeRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_berth_services_volumes_v1_GetVolumeResponse__Output>): grpc.ClientUnaryCall;
  get(argument: _berth_services_volumes_v1_GetVolumeRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_berth_services_volumes_v1_GetVolumeResponse__Output>): grpc.ClientUnaryCall;
  get(argument: _berth_services_volumes_v1_GetVolumeRequest, callback: grpc.requestCallback<_berth_services_volumes_v1_GetVolumeResponse__Output>): grpc.ClientUnaryCall;
  
  List(argument: _berth_services_volumes_v1_ListVolumesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_berth_services_volumes_v1_ListVolumesResponse__Output>): grpc.ClientUnaryCall;
  List(argument: _berth_services_volumes_v1_ListVolumesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_berth_services_volumes_v1_ListVolumesResponse__Output>): grpc.ClientUnaryCall;
  List(argument: _berth_services_volumes_v1_ListVolumesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_berth_services_volumes_v1_ListVolumesResponse__Output>): grpc.ClientUnaryCall;
  List(argument: _berth_services_volumes_v1_ListVolumesRequest, callback: grpc.requestCallback<_berth_services_volumes_v1_ListVolumesResponse__Output>): grpc.ClientUnaryCall;
  list(argument: _berth_services_volumes_v1_ListVolumesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_berth_services_volumes_v1_ListVolumesResponse__Output>): grpc.ClientUnaryCall;
  list(argument: _berth_services_volumes_v1_ListVolumesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_berth_services_volumes_v1_ListVolumesResponse__Output>): grpc.ClientUnaryCall;
  list(argument: _berth_services_volumes_v1_ListVolumesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_berth_services_volumes_v1_ListVolumesResponse__Output>): grpc.ClientUnaryCall;
  list(argument: _berth_services_volumes_v1_ListVolumesRequest, callback: grpc.requestCallback<_berth_services_volumes_v1_ListVolumesResponse__Output>): grpc.ClientUnaryCall;
  
  Prune(argument: _berth_services_volumes_v1_PruneVolumesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_berth_services_volumes_v1_PruneVolumesResponse__Output>): grpc.ClientUnaryCall;
  Prune(argument: _berth_services_volumes_v1_PruneVolumesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_berth_services_volumes_v1_PruneVolumesResponse__Output>): grpc.ClientUnaryCall;
  Prune(argument: _berth_services_volumes_v1_PruneVolumesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_berth_services_volumes_v1_PruneVolumesResponse__Output>): grpc.ClientUnaryCall;
  Prune(argument: _berth_services_volumes_v1_PruneVolumesRequest, callback: grpc.requestCallback<_berth_services_volumes_v1_PruneVolumesResponse__Output>): grpc.ClientUnaryCall;
  prune(argument: _berth_services_volumes_v1_PruneVolumesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_berth_services_volumes_v1_PruneVolumesResponse__Output>): grpc.ClientUnaryCall;
  prune(argument: _berth_services_volumes_v1_PruneVolumesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_berth_services_volumes_v1_PruneVolumesResponse__Output>): grpc.ClientUnaryCall;
  prune(argument: _berth_services_volumes_v1_PruneVolumesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_berth_services_volumes_v1_PruneVolumesResponse__Output>): grpc.ClientUnaryCall;
  prune(argument: _berth_services_volumes_v1_PruneVolumesRequest, callback: grpc.requestCallback<_berth_services_volumes_v1_PruneVolumesResponse__Output>): grpc.ClientUnaryCall;
  
}

export interface VolumesHandlers extends grpc.UntypedServiceImplementation {
  Create: grpc.handleUnaryCall<_berth_services_volumes_v1_CreateVolumeRequest__Output, _berth_services_volumes_v1_CreateVolumeResponse>;
  
  Delete: grpc.handleUnaryCall<_berth_services_volumes_v1_DeleteVolumeRequest__Output, _google_protobuf_Empty>;
  
  Get: grpc.handleUnaryCall<_berth_services_volumes_v1_GetVolumeRequest__Output, _berth_services_volumes_v1_GetVolumeResponse>;
  
  List: grpc.handleUnaryCall<_berth_services_volumes_v1_ListVolumesRequest__Output, _berth_services_volumes_v1_ListVolumesResponse>;
  
  Prune: grpc.handleUnaryCall<_berth_services_volumes_v1_PruneVolumesRequest__Output, _berth_services_volumes_v1_PruneVolumesResponse>;
  
}

export interface VolumesDefinition extends grpc.ServiceDefinition {
  Create: MethodDefinition<_berth_services_volumes_v1_CreateVolumeRequest, _berth_services_volumes_v1_CreateVolumeResponse, _berth_services_volumes_v1_CreateVolumeRequest__Output, _berth_services_volumes_v1_CreateVolumeResponse__Output>
  Delete: MethodDefinition<_berth_services_volumes_v1_DeleteVolumeRequest, _google_protobuf_Empty, _berth_services_volumes_v1_DeleteVolumeRequest__Output, _google_protobuf_Empty__Output>
  Get: MethodDefinition<_berth_services_volumes_v1_GetVolumeRequest, _berth_services_volumes_v1_GetVolumeResponse, _berth_services_volumes_v1_GetVolumeRequest__Output, _berth_services_volumes_v1_GetVolumeResponse__Output>
  List: MethodDefinition<_berth_services_volumes_v1_ListVolumesRequest, _berth_services_volumes_v1_ListVolumesResponse, _berth_services_volumes_v1_ListVolumesRequest__Output, _berth_services_volumes_v1_ListVolumesResponse__Output>
  Prune: MethodDefinition<_berth_services_volumes_v1_PruneVolumesRequest, _berth_services_volumes_v1_PruneVolumesResponse, _berth_services_volumes_v1_PruneVolumesRequest__Output, _berth_services_volumes_v1_PruneVolumesResponse__Output>
}
