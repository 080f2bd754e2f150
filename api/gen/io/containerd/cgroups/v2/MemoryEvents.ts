// Original file: api/proto/containerd/cgroups/v2/metrics.proto

import type { Long } from '@grpc/proto-loader';

export interface MemoryEvents {
  'low'?: (number | string | Long);
  'high'?: (number | string | Long);
  'max'?: (number | string | Long);
  'oom'?: (number | string | Long);
  'oom_kill'?: (number | string | Long);
}

export interface MemoryEvents__Output {
  'low': (number);
  'high': (number);
  'max': (number);
  'oom': (number);
  'oom_kill': (number);
}
