// Original file: api/proto/berth/events/v1/events.proto

import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from '../../../../google/protobuf/Timestamp.ts';
import type { Long } from '@grpc/proto-loader';

export interface SubscribeRequest {
  'filters'?: (string)[];
  'since_seq'?: (number | string | Long);
  'since'?: (_google_protobuf_Timestamp | null);
  'replay_only'?: (boolean);
}

export interface SubscribeRequest__Output {
  'filters': (string)[];
  'since_seq': (number);
  'since': (_google_protobuf_Timestamp__Output | null);
  'replay_only': (boolean);
}
