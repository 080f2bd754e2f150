// Original file: api/proto/berth/run/v1/run.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { RunEvent as _berth_services_run_v1_RunEvent, RunEvent__Output as _berth_services_run_v1_RunEvent__Output } from '../../../../berth/services/run/v1/RunEvent.ts';
import type { RunRequest as _berth_services_run_v1_RunRequest, RunRequest__Output as _berth_services_run_v1_RunRequest__Output } from '../../../../berth/services/run/v1/RunRequest.ts';

export interface RunClient extends grpc.Client {
  Run(argument: _berth_services_run_v1_RunRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_berth_services_run_v1_RunEvent__Output>;
  Run(argument: _berth_services_run_v1_RunRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_berth_services_run_v1_RunEvent__Output>;
  run(argument: _berth_services_run_v1_RunRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_berth_services_run_v1_RunEvent__Output>;
  run(argument: _berth_services_run_v1_RunRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_berth_services_run_v1_RunEvent__Output>;
  
}

export interface RunHandlers extends grpc.UntypedServiceImplementation {
  Run: grpc.handleServerStreamingCall<_berth_services_run_v1_RunRequest__Output, _berth_services_run_v1_RunEvent>;
  
}

export interface RunDefinition extends grpc.ServiceDefinition {
  Run: MethodDefinition<_berth_services_run_v1_RunRequest, _berth_services_run_v1_RunEvent, _berth_services_run_v1_RunRequest__Output, _berth_services_run_v1_RunEvent__Output>
}
