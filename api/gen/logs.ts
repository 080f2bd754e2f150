import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { LogEntry as _berth_services_logs_v1_LogEntry, LogEntry__Output as _berth_services_logs_v1_LogEntry__Output } from './berth/services/logs/v1/LogEntry.ts';
import type { LogsClient as _berth_services_logs_v1_LogsClient, LogsDefinition as _berth_services_logs_v1_LogsDefinition } from './berth/services/logs/v1/Logs.ts';
import type { ReadLogRequest as _berth_services_logs_v1_ReadLogRequest, ReadLogRequest__Output as _berth_services_logs_v1_ReadLogRequest__Output } from './berth/services/logs/v1/ReadLogRequest.ts';
import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from './google/protobuf/Timestamp.ts';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  berth: {
    services: {
      logs: {
        v1: {
          LogEntry: MessageTypeDefinition<_berth_services_logs_v1_LogEntry, _berth_services_logs_v1_LogEntry__Output>
          Logs: SubtypeConstructor<typeof grpc.Client, _berth_services_logs_v1_LogsClient> & { service: _berth_services_logs_v1_LogsDefinition }
          ReadLogRequest: MessageTypeDefinition<_berth_services_logs_v1_ReadLogRequest, _berth_services_logs_v1_ReadLogRequest__Output>
        }
      }
    }
  }
  google: {
    protobuf: {
      Timestamp: MessageTypeDefinition<_google_protobuf_Timestamp, _google_protobuf_Timestamp__Output>
    }
  }
}

