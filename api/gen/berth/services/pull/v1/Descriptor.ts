// Original file: api/proto/berth/pull/v1/pull.proto

import type { Long } from '@grpc/proto-loader';

export interface Descriptor {
  'media_type'?: (string);
  'digest'?: (string);
  'size'?: (number | string | Long);
}

export interface Descriptor__Output {
  'media_type': (string);
  'digest': (string);
  'size': (number);
}
