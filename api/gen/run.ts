import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { Exited as _berth_services_run_v1_Exited, Exited__Output as _berth_services_run_v1_Exited__Output } from './berth/services/run/v1/Exited.ts';
import type { RunClient as _berth_services_run_v1_RunClient, RunDefinition as _berth_services_run_v1_RunDefinition } from './berth/services/run/v1/Run.ts';
import type { RunEvent as _berth_services_run_v1_RunEvent, RunEvent__Output as _berth_services_run_v1_RunEvent__Output } from './berth/services/run/v1/RunEvent.ts';
import type { RunRequest as _berth_services_run_v1_RunRequest, RunRequest__Output as _berth_services_run_v1_RunRequest__Output } from './berth/services/run/v1/RunRequest.ts';
import type { SpecMount as _berth_services_run_v1_SpecMount, SpecMount__Output as _berth_services_run_v1_SpecMount__Output } from './berth/services/run/v1/SpecMount.ts';
import type { SpecOptions as _berth_services_run_v1_SpecOptions, SpecOptions__Output as _berth_services_run_v1_SpecOptions__Output } from './berth/services/run/v1/SpecOptions.ts';
import type { Started as _berth_services_run_v1_Started, Started__Output as _berth_services_run_v1_Started__Output } from './berth/services/run/v1/Started.ts';
import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from './google/protobuf/Timestamp.ts';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  berth: {
    services: {
      run: {
        v1: {
          Exited: MessageTypeDefinition<_berth_services_run_v1_Exited, _berth_services_run_v1_Exited__Output>
          Run: SubtypeConstructor<typeof grpc.Client, _berth_services_run_v1_RunClient> & { service: _berth_services_run_v1_RunDefinition }
          RunEvent: MessageTypeDefinition<_berth_services_run_v1_RunEvent, _berth_services_run_v1_RunEvent__Output>
          RunRequest: MessageTypeDefinition<_berth_services_run_v1_RunRequest, _berth_services_run_v1_RunRequest__Output>
          SpecMount: MessageTypeDefinition<_berth_services_run_v1_SpecMount, _berth_services_run_v1_SpecMount__Output>
          SpecOptions: MessageTypeDefinition<_berth_services_run_v1_SpecOptions, _berth_services_run_v1_SpecOptions__Output>
          Started: MessageTypeDefinition<_berth_services_run_v1_Started, _berth_services_run_v1_Started__Output>
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

