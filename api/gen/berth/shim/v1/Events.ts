// Original file: api/proto/berth/shim/v1/events.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { AckRequest as _berth_shim_v1_AckRequest, AckRequest__Output as _berth_shim_v1_AckRequest__Output } from '../../../berth/shim/v1/AckRequest.ts';
import type { Empty as _google_protobuf_Empty, Empty__Output as _google_protobuf_Empty__Output } from '../../../google/protobuf/Empty.ts';
import type { ShimEvent as _berth_shim_v1_ShimEvent, ShimEvent__Output as _berth_shim_v1_ShimEvent__Output } from '../../../berth/shim/v1/ShimEvent.ts';
import type { SubscribeRequest as _berth_shim_v1_SubscribeRequest, SubscribeRequest__Output as _berth_shim_v1_SubscribeRequest__Output } from '../../../berth/shim/v1/SubscribeRequest.ts';

export interface EventsClient extends grpc.Client {
  Ack(argument: _berth_shim_v1_AckRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  Ack(argument: _berth_shim_v1_AckRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  Ack(argument: _berth_shim_v1_AckRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  Ack(argument: _berth_shim_v1_AckRequest, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  ack(argument: _berth_shim_v1_AckRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  ack(argument: _berth_shim_v1_AckRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  ack(argument: _berth_shim_v1_AckRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  ack(argument: _berth_shim_v1_AckRequest, callback: grpc.requestCallback<_google_protobuf_Empty__Output>): grpc.ClientUnaryCall;
  
  Subscribe(argument: _berth_shim_v1_SubscribeRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_berth_shim_v1_ShimEvent__Output>;
  Subscribe(argument: _berth_shim_v1_SubscribeRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_berth_shim_v1_ShimEvent__Output>;
  subscribe(argument: _berth_shim_v1_SubscribeRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_berth_shim_v1_ShimEvent__Output>;
  subscribe(argument: _berth_shim_v1_SubscribeRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_berth_shim_v1_ShimEvent__Output>;
  
}

export interface EventsHandlers extends grpc.UntypedServiceImplementation {
  Ack: grpc.handleUnaryCall<_berth_shim_v1_AckRequest__Output, _google_protobuf_Empty>;
  
  Subscribe: grpc.handleServerStreamingCall<_berth_shim_v1_SubscribeRequest__Output, _berth_shim_v1_ShimEvent>;
  
}

export interface EventsDefinition extends grpc.ServiceDefinition {
  Ack: MethodDefinition<_berth_shim_v1_AckRequest, _google_protobuf_Empty, _berth_shim_v1_AckRequest__Output, _google_protobuf_Empty__Output>
  Subscribe: MethodDefinition<_berth_shim_v1_SubscribeRequest, _berth_shim_v1_ShimEvent, _berth_shim_v1_SubscribeRequest__Output, _berth_shim_v1_ShimEvent__Output>
}
