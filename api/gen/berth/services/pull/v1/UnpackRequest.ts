// Original file: api/proto/berth/pull/v1/pull.proto


export interface UnpackRequest {
  'name'?: (string);
  'platform'?: (string);
  'snapshotter'?: (string);
}

export interface UnpackRequest__Output {
  'name': (string);
  'platform': (string);
  'snapshotter': (string);
}
