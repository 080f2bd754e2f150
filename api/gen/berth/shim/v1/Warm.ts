// Original file: api/proto/berth/shim/v1/warm.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { AdoptRequest as _berth_shim_v1_AdoptRequest, AdoptRequest__Output as _berth_shim_v1_AdoptRequest__Output } from '../../../berth/shim/v1/AdoptRequest.ts';
import type { AdoptResponse as _berth_shim_v1_AdoptResponse, AdoptResponse__Output as _berth_shim_v1_AdoptResponse__Output } from '../../../berth/shim/v1/AdoptResponse.ts';

export interface WarmClient extends grpc.Client {
  Adopt(argument: _berth_shim_v1_AdoptRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_berth_shim_v1_AdoptResponse__Output>): grpc.ClientUnaryCall;
  Adopt(argument: _berth_shim_v1_AdoptRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_berth_shim_v1_AdoptResponse__Output>): grpc.ClientUnaryCall;
  Adopt(argument: _berth_shim_v1_AdoptRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_berth_shim_v1_AdoptResponse__Output>): grpc.ClientUnaryCall;
  Adopt(argument: _berth_shim_v1_AdoptRequest, callback: grpc.requestCallback<_berth_shim_v1_AdoptResponse__Output>): grpc.ClientUnaryCall;
  adopt(argument: _berth_shim_v1_AdoptRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_berth_shim_v1_AdoptResponse__Output>): grpc.ClientUnaryCall;
  adopt(argument: _berth_shim_v1_AdoptRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_berth_shim_v1_AdoptResponse__Output>): grpc.ClientUnaryCall;
  adopt(argument: _berth_shim_v1_AdoptRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_berth_shim_v1_AdoptResponse__Output>): grpc.ClientUnaryCall;
  adopt(argument: _berth_shim_v1_AdoptRequest, callback: grpc.requestCallback<_berth_shim_v1_AdoptResponse__Output>): grpc.ClientUnaryCall;
  
}

export interface WarmHandlers extends grpc.UntypedServiceImplementation {
  Adopt: grpc.handleUnaryCall<_berth_shim_v1_AdoptRequest__Output, _berth_shim_v1_AdoptResponse>;
  
}

export interface WarmDefinition extends grpc.ServiceDefinition {
  Adopt: MethodDefinition<_berth_shim_v1_AdoptRequest, _berth_shim_v1_AdoptResponse, _berth_shim_v1_AdoptRequest__Output, _berth_shim_v1_AdoptResponse__Output>
}
