// Original file: api/proto/berth/pull/v1/pull.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { PullProgress as _berth_services_pull_v1_PullProgress, PullProgress__Output as _berth_services_pull_v1_PullProgress__Output } from '../../../../berth/services/pull/v1/PullProgress.ts';
import type { PullRequest as _berth_services_pull_v1_PullRequest, PullRequest__Output as _berth_services_pull_v1_PullRequest__Output } from '../../../../berth/services/pull/v1/PullRequest.ts';
import type { UnpackRequest as _berth_services_pull_v1_UnpackRequest, UnpackRequest__Output as _berth_services_pull_v1_UnpackRequest__Output } from '../../../../berth/services/pull/v1/UnpackRequest.ts';

export interface PullClient extends grpc.Client {
  Pull(argument: _berth_services_pull_v1_PullRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_berth_services_pull_v1_PullProgress__Output>;
  Pull(argument: _berth_services_pull_v1_PullRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_berth_services_pull_v1_PullProgress__Output>;
  pull(argument: _berth_services_pull_v1_PullRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_berth_services_pull_v1_PullProgress__Output>;
  pull(argument: _berth_services_pull_v1_PullRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_berth_services_pull_v1_PullProgress__Output>;
  
  Unpack(argument: _berth_services_pull_v1_UnpackRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_berth_services_pull_v1_PullProgress__Output>;
  Unpack(argument: _berth_services_pull_v1_UnpackRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_berth_services_pull_v1_PullProgress__Output>;
  unpack(argument: _berth_services_pull_v1_UnpackRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_berth_services_pull_v1_PullProgress__Output>;
  unpack(argument: _berth_services_pull_v1_UnpackRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_berth_services_pull_v1_PullProgress__Output>;
  
}

export interface PullHandlers extends grpc.UntypedServiceImplementation {
  Pull: grpc.handleServerStreamingCall<_berth_services_pull_v1_PullRequest__Output, _berth_services_pull_v1_PullProgress>;
  
  Unpack: grpc.handleServerStreamingCall<_berth_services_pull_v1_UnpackRequest__Output, _berth_services_pull_v1_PullProgress>;
  
}

export interface PullDefinition extends grpc.ServiceDefinition {
  Pull: MethodDefinition<_berth_services_pull_v1_PullRequest, _berth_services_pull_v1_PullProgress, _berth_services_pull_v1_PullRequest__Output, _berth_services_pull_v1_PullProgress__Output>
  Unpack: MethodDefinition<_berth_services_pull_v1_UnpackRequest, _berth_services_pull_v1_PullProgress, _berth_services_pull_v1_UnpackRequest__Output, _berth_services_pull_v1_PullProgress__Output>
}
