// Original file: api/proto/berth/volumes/v1/volumes.proto

import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from '../../../../google/protobuf/Timestamp.ts';

export interface Volume {
  'name'?: (string);
  'labels'?: ({[key: string]: string});
  'created_at'?: (_google_protobuf_Timestamp | null);
  'anonymous'?: (boolean);
  'mountpoint'?: (string);
}

export interface Volume__Output {
  'name': (string);
  'labels': ({[key: string]: string});
  'created_at': (_google_protobuf_Timestamp__Output | null);
  'anonymous': (boolean);
  'mountpoint': (string);
}
