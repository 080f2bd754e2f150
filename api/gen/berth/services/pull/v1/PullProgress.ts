// Original file: api/proto/berth/pull/v1/pull.proto

import type { Descriptor as _berth_services_pull_v1_Descriptor, Descriptor__Output as _berth_services_pull_v1_Descriptor__Output } from '../../../../berth/services/pull/v1/Descriptor.ts';
import type { Long } from '@grpc/proto-loader';

export interface PullProgress {
  'ref'?: (string);
  'digest'?: (string);
  'media_type'?: (string);
  'status'?: (string);
  'offset'?: (number | string | Long);
  'total'?: (number | string | Long);
  'image'?: (string);
  'target'?: (_berth_services_pull_v1_Descriptor | null);
  'chain_id'?: (string);
}

export interface PullProgress__Output {
  'ref': (string);
  'digest': (string);
  'media_type': (string);
  'status': (string);
  'offset': (number);
  'total': (number);
  'image': (string);
  'target': (_berth_services_pull_v1_Descriptor__Output | null);
  'chain_id': (string);
}
