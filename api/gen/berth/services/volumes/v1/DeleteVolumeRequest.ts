// Original file: api/proto/berth/volumes/v1/volumes.proto


export interface DeleteVolumeRequest {
  'name'?: (string);
}

export interface DeleteVolumeRequest__Output {
  'name': (string);
}
