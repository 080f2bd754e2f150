// Original file: api/proto/berth/volumes/v1/volumes.proto


export interface CreateVolumeRequest {
  'name'?: (string);
  'labels'?: ({[key: string]: string});
  'anonymous'?: (boolean);
}

export interface CreateVolumeRequest__Output {
  'name': (string);
  'labels': ({[key: string]: string});
  'anonymous': (boolean);
}
