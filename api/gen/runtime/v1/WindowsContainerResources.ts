// Original file: api/proto/k8s.io/cri-api/runtime/v1/api.proto

import type { Long } from '@grpc/proto-loader';

export interface WindowsContainerResources {
  'cpu_shares'?: (number | string | Long);
  'cpu_count'?: (number | string | Long);
  'cpu_maximum'?: (number | string | Long);
  'memory_limit_in_bytes'?: (number | string | Long);
  'rootfs_size_in_bytes'?: (number | string | Long);
}

export interface WindowsContainerResources__Output {
  'cpu_shares': (number);
  'cpu_count': (number);
  'cpu_maximum': (number);
  'memory_limit_in_bytes': (number);
  'rootfs_size_in_bytes': (number);
}
