// Original file: api/proto/berth/logs/v1/logs.proto

import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from '../../../../google/protobuf/Timestamp.ts';

export interface LogEntry {
  'timestamp'?: (_google_protobuf_Timestamp | null);
  'stream'?: (string);
  'data'?: (Buffer | Uint8Array | string);
}

export interface LogEntry__Output {
  'timestamp': (_google_protobuf_Timestamp__Output | null);
  'stream': (string);
  'data': (Buffer);
}
