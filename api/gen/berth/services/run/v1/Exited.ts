// Original file: api/proto/berth/run/v1/run.proto

import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from '../../../../google/protobuf/Timestamp.ts';

export interface Exited {
  'exit_status'?: (number);
  'exited_at'?: (_google_protobuf_Timestamp | null);
}

export interface Exited__Output {
  'exit_status': (number);
  'exited_at': (_google_protobuf_Timestamp__Output | null);
}
