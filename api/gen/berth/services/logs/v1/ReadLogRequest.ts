// Original file: api/proto/berth/logs/v1/logs.proto

import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from '../../../../google/protobuf/Timestamp.ts';
import type { Long } from '@grpc/proto-loader';

export interface ReadLogRequest {
  'container_id'?: (string);
  'follow'?: (boolean);
  'tail'?: (number | string | Long);
  'since'?: (_google_protobuf_Timestamp | null);
}

export interface ReadLogRequest__Output {
  'container_id': (string);
  'follow': (boolean);
  'tail': (number);
  'since': (_google_protobuf_Timestamp__Output | null);
}
