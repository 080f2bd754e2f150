// Original file: api/proto/containerd/cgroups/v2/metrics.proto

import type { Long } from '@grpc/proto-loader';

export interface CPUStat {
  'usage_usec'?: (number | string | Long);
  'user_usec'?: (number | string | Long);
  'system_usec'?: (number | string | Long);
  'nr_periods'?: (number | string | Long);
  'nr_throttled'?: (number | string | Long);
  'throttled_usec'?: (number | string | Long);
}

export interface CPUStat__Output {
  'usage_usec': (number);
  'user_usec': (number);
  'system_usec': (number);
  'nr_periods': (number);
  'nr_throttled': (number);
  'throttled_usec': (number);
}
