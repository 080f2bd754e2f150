import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { Metric as _containerd_types_Metric, Metric__Output as _containerd_types_Metric__Output } from './containerd/types/Metric.ts';
import type { Any as _google_protobuf_Any, Any__Output as _google_protobuf_Any__Output } from './google/protobuf/Any.ts';
import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from './google/protobuf/Timestamp.ts';
import type { BlkIOEntry as _io_containerd_cgroups_v1_BlkIOEntry, BlkIOEntry__Output as _io_containerd_cgroups_v1_BlkIOEntry__Output } from './io/containerd/cgroups/v1/BlkIOEntry.ts';
import type { BlkIOStat as _io_containerd_cgroups_v1_BlkIOStat, BlkIOStat__Output as _io_containerd_cgroups_v1_BlkIOStat__Output } from './io/containerd/cgroups/v1/BlkIOStat.ts';
import type { CPUStat as _io_containerd_cgroups_v1_CPUStat, CPUStat__Output as _io_containerd_cgroups_v1_CPUStat__Output } from './io/containerd/cgroups/v1/CPUStat.ts';
import type { CPUUsage as _io_containerd_cgroups_v1_CPUUsage, CPUUsage__Output as _io_containerd_cgroups_v1_CPUUsage__Output } from './io/containerd/cgroups/v1/CPUUsage.ts';
import type { CgroupStats as _io_containerd_cgroups_v1_CgroupStats, CgroupStats__Output as _io_containerd_cgroups_v1_CgroupStats__Output } from './io/containerd/cgroups/v1/CgroupStats.ts';
import type { HugetlbStat as _io_containerd_cgroups_v1_HugetlbStat, HugetlbStat__Output as _io_containerd_cgroups_v1_HugetlbStat__Output } from './io/containerd/cgroups/v1/HugetlbStat.ts';
import type { MemoryEntry as _io_containerd_cgroups_v1_MemoryEntry, MemoryEntry__Output as _io_containerd_cgroups_v1_MemoryEntry__Output } from './io/containerd/cgroups/v1/MemoryEntry.ts';
import type { MemoryOomControl as _io_containerd_cgroups_v1_MemoryOomControl, MemoryOomControl__Output as _io_containerd_cgroups_v1_MemoryOomControl__Output } from './io/containerd/cgroups/v1/MemoryOomControl.ts';
import type { MemoryStat as _io_containerd_cgroups_v1_MemoryStat, MemoryStat__Output as _io_containerd_cgroups_v1_MemoryStat__Output } from './io/containerd/cgroups/v1/MemoryStat.ts';
import type { Metrics as _io_containerd_cgroups_v1_Metrics, Metrics__Output as _io_containerd_cgroups_v1_Metrics__Output } from './io/containerd/cgroups/v1/Metrics.ts';
import type { NetworkStat as _io_containerd_cgroups_v1_NetworkStat, NetworkStat__Output as _io_containerd_cgroups_v1_NetworkStat__Output } from './io/containerd/cgroups/v1/NetworkStat.ts';
import type { PidsStat as _io_containerd_cgroups_v1_PidsStat, PidsStat__Output as _io_containerd_cgroups_v1_PidsStat__Output } from './io/containerd/cgroups/v1/PidsStat.ts';
import type { RdmaEntry as _io_containerd_cgroups_v1_RdmaEntry, RdmaEntry__Output as _io_containerd_cgroups_v1_RdmaEntry__Output } from './io/containerd/cgroups/v1/RdmaEntry.ts';
import type { RdmaStat as _io_containerd_cgroups_v1_RdmaStat, RdmaStat__Output as _io_containerd_cgroups_v1_RdmaStat__Output } from './io/containerd/cgroups/v1/RdmaStat.ts';
import type { Throttle as _io_containerd_cgroups_v1_Throttle, Throttle__Output as _io_containerd_cgroups_v1_Throttle__Output } from './io/containerd/cgroups/v1/Throttle.ts';
import type { CPUStat as _io_containerd_cgroups_v2_CPUStat, CPUStat__Output as _io_containerd_cgroups_v2_CPUStat__Output } from './io/containerd/cgroups/v2/CPUStat.ts';
import type { HugeTlbStat as _io_containerd_cgroups_v2_HugeTlbStat, HugeTlbStat__Output as _io_containerd_cgroups_v2_HugeTlbStat__Output } from './io/containerd/cgroups/v2/HugeTlbStat.ts';
import type { IOEntry as _io_containerd_cgroups_v2_IOEntry, IOEntry__Output as _io_containerd_cgroups_v2_IOEntry__Output } from './io/containerd/cgroups/v2/IOEntry.ts';
import type { IOStat as _io_containerd_cgroups_v2_IOStat, IOStat__Output as _io_containerd_cgroups_v2_IOStat__Output } from './io/containerd/cgroups/v2/IOStat.ts';
import type { MemoryEvents as _io_containerd_cgroups_v2_MemoryEvents, MemoryEvents__Output as _io_containerd_cgroups_v2_MemoryEvents__Output } from './io/containerd/cgroups/v2/MemoryEvents.ts';
import type { MemoryStat as _io_containerd_cgroups_v2_MemoryStat, MemoryStat__Output as _io_containerd_cgroups_v2_MemoryStat__Output } from './io/containerd/cgroups/v2/MemoryStat.ts';
import type { Metrics as _io_containerd_cgroups_v2_Metrics, Metrics__Output as _io_containerd_cgroups_v2_Metrics__Output } from './io/containerd/cgroups/v2/Metrics.ts';
import type { PidsStat as _io_containerd_cgroups_v2_PidsStat, PidsStat__Output as _io_containerd_cgroups_v2_PidsStat__Output } from './io/containerd/cgroups/v2/PidsStat.ts';
import type { RdmaEntry as _io_containerd_cgroups_v2_RdmaEntry, RdmaEntry__Output as _io_containerd_cgroups_v2_RdmaEntry__Output } from './io/containerd/cgroups/v2/RdmaEntry.ts';
import type { RdmaStat as _io_containerd_cgroups_v2_RdmaStat, RdmaStat__Output as _io_containerd_cgroups_v2_RdmaStat__Output } from './io/containerd/cgroups/v2/RdmaStat.ts';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  containerd: {
    types: {
      Metric: MessageTypeDefinition<_containerd_types_Metric, _containerd_types_Metric__Output>
    }
  }
  google: {
    protobuf: {
      Any: MessageTypeDefinition<_google_protobuf_Any, _google_protobuf_Any__Output>
      Timestamp: MessageTypeDefinition<_google_protobuf_Timestamp, _google_protobuf_Timestamp__Output>
    }
  }
  io: {
    containerd: {
      cgroups: {
        v1: {
          BlkIOEntry: MessageTypeDefinition<_io_containerd_cgroups_v1_BlkIOEntry, _io_containerd_cgroups_v1_BlkIOEntry__Output>
          BlkIOStat: MessageTypeDefinition<_io_containerd_cgroups_v1_BlkIOStat, _io_containerd_cgroups_v1_BlkIOStat__Output>
          CPUStat: MessageTypeDefinition<_io_containerd_cgroups_v1_CPUStat, _io_containerd_cgroups_v1_CPUStat__Output>
          CPUUsage: MessageTypeDefinition<_io_containerd_cgroups_v1_CPUUsage, _io_containerd_cgroups_v1_CPUUsage__Output>
          CgroupStats: MessageTypeDefinition<_io_containerd_cgroups_v1_CgroupStats, _io_containerd_cgroups_v1_CgroupStats__Output>
          HugetlbStat: MessageTypeDefinition<_io_containerd_cgroups_v1_HugetlbStat, _io_containerd_cgroups_v1_HugetlbStat__Output>
          MemoryEntry: MessageTypeDefinition<_io_containerd_cgroups_v1_MemoryEntry, _io_containerd_cgroups_v1_MemoryEntry__Output>
          MemoryOomControl: MessageTypeDefinition<_io_containerd_cgroups_v1_MemoryOomControl, _io_containerd_cgroups_v1_MemoryOomControl__Output>
          MemoryStat: MessageTypeDefinition<_io_containerd_cgroups_v1_MemoryStat, _io_containerd_cgroups_v1_MemoryStat__Output>
          Metrics: MessageTypeDefinition<_io_containerd_cgroups_v1_Metrics, _io_containerd_cgroups_v1_Metrics__Output>
          NetworkStat: MessageTypeDefinition<_io_containerd_cgroups_v1_NetworkStat, _io_containerd_cgroups_v1_NetworkStat__Output>
          PidsStat: MessageTypeDefinition<_io_containerd_cgroups_v1_PidsStat, _io_containerd_cgroups_v1_PidsStat__Output>
          RdmaEntry: MessageTypeDefinition<_io_containerd_cgroups_v1_RdmaEntry, _io_containerd_cgroups_v1_RdmaEntry__Output>
          RdmaStat: MessageTypeDefinition<_io_containerd_cgroups_v1_RdmaStat, _io_containerd_cgroups_v1_RdmaStat__Output>
          Throttle: MessageTypeDefinition<_io_containerd_cgroups_v1_Throttle, _io_containerd_cgroups_v1_Throttle__Output>
        }
        v2: {
          CPUStat: MessageTypeDefinition<_io_containerd_cgroups_v2_CPUStat, _io_containerd_cgroups_v2_CPUStat__Output>
          HugeTlbStat: MessageTypeDefinition<_io_containerd_cgroups_v2_HugeTlbStat, _io_containerd_cgroups_v2_HugeTlbStat__Output>
          IOEntry: MessageTypeDefinition<_io_containerd_cgroups_v2_IOEntry, _io_containerd_cgroups_v2_IOEntry__Output>
          IOStat: MessageTypeDefinition<_io_containerd_cgroups_v2_IOStat, _io_containerd_cgroups_v2_IOStat__Output>
          MemoryEvents: MessageTypeDefinition<_io_containerd_cgroups_v2_MemoryEvents, _io_containerd_cgroups_v2_MemoryEvents__Output>
          MemoryStat: MessageTypeDefinition<_io_containerd_cgroups_v2_MemoryStat, _io_containerd_cgroups_v2_MemoryStat__Output>
          Metrics: MessageTypeDefinition<_io_containerd_cgroups_v2_Metrics, _io_containerd_cgroups_v2_Metrics__Output>
          PidsStat: MessageTypeDefinition<_io_containerd_cgroups_v2_PidsStat, _io_containerd_cgroups_v2_PidsStat__Output>
          RdmaEntry: MessageTypeDefinition<_io_containerd_cgroups_v2_RdmaEntry, _io_containerd_cgroups_v2_RdmaEntry__Output>
          RdmaStat: MessageTypeDefinition<_io_containerd_cgroups_v2_RdmaStat, _io_containerd_cgroups_v2_RdmaStat__Output>
        }
      }
    }
  }
}

