// Original file: api/proto/containerd/cgroups/v1/metrics.proto

import type { Long } from '@grpc/proto-loader';

export interface CgroupStats {
  'nr_sleeping'?: (number | string | Long);
  'nr_running'?: (number | string | Long);
  'nr_stopped'?: (number | string | Long);
  'nr_uninterruptible'?: (number | string | Long);
  'nr_io_wait'?: (number | string | Long);
}

export interface CgroupStats__Output {
  'nr_sleeping': (number);
  'nr_running': (number);
  'nr_stopped': (number);
  'nr_uninterruptible': (number);
  'nr_io_wait': (number);
}
