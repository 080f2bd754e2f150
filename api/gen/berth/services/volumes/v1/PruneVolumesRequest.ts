// Original file: api/proto/berth/volumes/v1/volumes.proto


export interface PruneVolumesRequest {
  'all'?: (boolean);
  'filters'?: (string)[];
}

export interface PruneVolumesRequest__Output {
  'all': (boolean);
  'filters': (string)[];
}
