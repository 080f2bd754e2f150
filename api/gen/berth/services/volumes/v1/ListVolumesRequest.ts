// Original file: api/proto/berth/volumes/v1/volumes.proto


export interface ListVolumesRequest {
  'filters'?: (string)[];
}

export interface ListVolumesRequest__Output {
  'filters': (string)[];
}
