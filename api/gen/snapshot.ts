import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { SnapshotCommit as _containerd_events_SnapshotCommit, SnapshotCommit__Output as _containerd_events_SnapshotCommit__Output } from './containerd/events/SnapshotCommit.ts';
import type { SnapshotPrepare as _containerd_events_SnapshotPrepare, SnapshotPrepare__Output as _containerd_events_SnapshotPrepare__Output } from './containerd/events/SnapshotPrepare.ts';
import type { SnapshotRemove as _containerd_events_SnapshotRemove, SnapshotRemove__Output as _containerd_events_SnapshotRemove__Output } from './containerd/events/SnapshotRemove.ts';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  containerd: {
    events: {
      SnapshotCommit: MessageTypeDefinition<_containerd_events_SnapshotCommit, _containerd_events_SnapshotCommit__Output>
      SnapshotPrepare: MessageTypeDefinition<_containerd_events_SnapshotPrepare, _containerd_events_SnapshotPrepare__Output>
      SnapshotRemove: MessageTypeDefinition<_containerd_events_SnapshotRemove, _containerd_events_SnapshotRemove__Output>
    }
  }
}

