import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { AdoptRequest as _berth_shim_v1_AdoptRequest, AdoptRequest__Output as _berth_shim_v1_AdoptRequest__Output } from './berth/shim/v1/AdoptRequest.ts';
import type { AdoptResponse as _berth_shim_v1_AdoptResponse, AdoptResponse__Output as _berth_shim_v1_AdoptResponse__Output } from './berth/shim/v1/AdoptResponse.ts';
import type { WarmClient as _berth_shim_v1_WarmClient, WarmDefinition as _berth_shim_v1_WarmDefinition } from './berth/shim/v1/Warm.ts';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  berth: {
    shim: {
      v1: {
        AdoptRequest: MessageTypeDefinition<_berth_shim_v1_AdoptRequest, _berth_shim_v1_AdoptRequest__Output>
        AdoptResponse: MessageTypeDefinition<_berth_shim_v1_AdoptResponse, _berth_shim_v1_AdoptResponse__Output>
        Warm: SubtypeConstructor<typeof grpc.Client, _berth_shim_v1_WarmClient> & { service: _berth_shim_v1_WarmDefinition }
      }
    }
  }
}

