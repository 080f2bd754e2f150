// Original file: api/proto/berth/logs/v1/logs.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { LogEntry as _berth_services_logs_v1_LogEntry, LogEntry__Output as _berth_services_logs_v1_LogEntry__Output } from '../../../../berth/services/logs/v1/LogEntry.ts';
import type { ReadLogRequest as _berth_services_logs_v1_ReadLogRequest, ReadLogRequest__Output as _berth_services_logs_v1_ReadLogRequest__Output } from '../../../../berth/services/logs/v1/ReadLogRequest.ts';

export interface LogsClient extends grpc.Client {
  Read(argument: _berth_services_logs_v1_ReadLogRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_berth_services_logs_v1_LogEntry__Output>;
  Read(argument: _berth_services_logs_v1_ReadLogRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_berth_services_logs_v1_LogEntry__Output>;
  read(argument: _berth_services_logs_v1_ReadLogRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_berth_services_logs_v1_LogEntry__Output>;
  read(argument: _berth_services_logs_v1_ReadLogRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_berth_services_logs_v1_LogEntry__Output>;
  
}

export interface LogsHandlers extends grpc.UntypedServiceImplementation {
  Read: grpc.handleServerStreamingCall<_berth_services_logs_v1_ReadLogRequest__Output, _berth_services_logs_v1_LogEntry>;
  
}

export interface LogsDefinition extends grpc.ServiceDefinition {
  Read: MethodDefinition<_berth_services_logs_v1_ReadLogRequest, _berth_services_logs_v1_LogEntry, _berth_services_logs_v1_ReadLogRequest__Output, _berth_services_logs_v1_LogEntry__Output>
}
