// Original file: api/proto/containerd/cgroups/v1/metrics.proto

import type { Long } from '@grpc/proto-loader';

export interface NetworkStat {
  'name'?: (string);
  'rx_bytes'?: (number | string | Long);
  'rx_packets'?: (number | string | Long);
  'rx_errors'?: (number | string | Long);
  'rx_dropped'?: (number | string | Long);
  'tx_bytes'?: (number | string | Long);
  'tx_packets'?: (number | string | Long);
  'tx_errors'?: (number | string | Long);
  'tx_dropped'?: (number | string | Long);
}

export interface NetworkStat__Output {
  'name': (string);
  'rx_bytes': (number);
  'rx_packets': (number);
  'rx_errors': (number);
  'rx_dropped': (number);
  'tx_bytes': (number);
  'tx_packets': (number);
  'tx_errors': (number);
  'tx_dropped': (number);
}
