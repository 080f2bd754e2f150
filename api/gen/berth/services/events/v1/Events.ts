// Original file: api/proto/berth/events/v1/events.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { Envelope as _berth_services_events_v1_Envelope, Envelope__Output as _berth_services_events_v1_Envelope__Output } from '../../../../berth/services/events/v1/Envelope.ts';
import type { SubscribeRequest as _berth_services_events_v1_SubscribeRequest, SubscribeRequest__Output as _berth_services_events_v1_SubscribeRequest__Output } from '../../../../berth/services/events/v1/SubscribeRequest.ts';

export interface EventsClient extends grpc.Client {
  Subscribe(argument: _berth_services_events_v1_SubscribeRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_berth_services_events_v1_Envelope__Output>;
  Subscribe(argument: _berth_services_events_v1_SubscribeRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_berth_services_events_v1_Envelope__Output>;
  subscribe(argument: _berth_services_events_v1_SubscribeRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_berth_services_events_v1_Envelope__Output>;
  subscribe(argument: _berth_services_events_v1_SubscribeRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_berth_services_events_v1_Envelope__Output>;
  
}

export interface EventsHandlers extends grpc.UntypedServiceImplementation {
  Subscribe: grpc.handleServerStreamingCall<_berth_services_events_v1_SubscribeRequest__Output, _berth_services_events_v1_Envelope>;
  
}

export interface EventsDefinition extends grpc.ServiceDefinition {
  Subscribe: MethodDefinition<_berth_services_events_v1_SubscribeRequest, _berth_services_events_v1_Envelope, _berth_services_events_v1_SubscribeRequest__Output, _berth_services_events_v1_Envelope__Output>
}
