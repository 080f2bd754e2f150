// Original file: api/proto/berth/volumes/v1/volumes.proto


export interface GetVolumeRequest {
  'name'?: (string);
}

export interface GetVolumeRequest__Output {
  'name': (string);
}
