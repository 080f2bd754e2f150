// Original file: api/proto/containerd/services/introspection/v1/introspection.proto

import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from '../../../../google/protobuf/Timestamp.ts';

export interface DeprecationWarning {
  'id'?: (string);
  'message'?: (string);
  'last_occurrence'?: (_google_protobuf_Timestamp | null);
}

export interface DeprecationWarning__Output {
  'id': (string);
  'message': (string);
  'last_occurrence': (_google_protobuf_Timestamp__Output | null);
}
