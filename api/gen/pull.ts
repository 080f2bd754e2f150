import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { Descriptor as _berth_services_pull_v1_Descriptor, Descriptor__Output as _berth_services_pull_v1_Descriptor__Output } from './berth/services/pull/v1/Descriptor.ts';
import type { PullClient as _berth_services_pull_v1_PullClient, PullDefinition as _berth_services_pull_v1_PullDefinition } from './berth/services/pull/v1/Pull.ts';
import type { PullProgress as _berth_services_pull_v1_PullProgress, PullProgress__Output as _berth_services_pull_v1_PullProgress__Output } from './berth/services/pull/v1/PullProgress.ts';
import type { PullRequest as _berth_services_pull_v1_PullRequest, PullRequest__Output as _berth_services_pull_v1_PullRequest__Output } from './berth/services/pull/v1/PullRequest.ts';
import type { UnpackRequest as _berth_services_pull_v1_UnpackRequest, UnpackRequest__Output as _berth_services_pull_v1_UnpackRequest__Output } from './berth/services/pull/v1/UnpackRequest.ts';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  berth: {
    services: {
      pull: {
        v1: {
          Descriptor: MessageTypeDefinition<_berth_services_pull_v1_Descriptor, _berth_services_pull_v1_Descriptor__Output>
          Pull: SubtypeConstructor<typeof grpc.Client, _berth_services_pull_v1_PullClient> & { service: _berth_services_pull_v1_PullDefinition }
          PullProgress: MessageTypeDefinition<_berth_services_pull_v1_PullProgress, _berth_services_pull_v1_PullProgress__Output>
          PullRequest: MessageTypeDefinition<_berth_services_pull_v1_PullRequest, _berth_services_pull_v1_PullRequest__Output>
          UnpackRequest: MessageTypeDefinition<_berth_services_pull_v1_UnpackRequest, _berth_services_pull_v1_UnpackRequest__Output>
        }
      }
    }
  }
}

