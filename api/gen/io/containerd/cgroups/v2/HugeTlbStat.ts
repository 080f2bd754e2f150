// Original file: api/proto/containerd/cgroups/v2/metrics.proto

import type { Long } from '@grpc/proto-loader';

export interface HugeTlbStat {
  'current'?: (number | string | Long);
  'max'?: (number | string | Long);
  'pagesize'?: (string);
}

export interface HugeTlbStat__Output {
  'current': (number);
  'max': (number);
  'pagesize': (string);
}
