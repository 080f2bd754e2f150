// Original file: api/proto/berth/shim/v1/events.proto

import type { Long } from '@grpc/proto-loader';

export interface AckRequest {
  'seq'?: (number | string | Long);
}

export interface AckRequest__Output {
  'seq': (number);
}
