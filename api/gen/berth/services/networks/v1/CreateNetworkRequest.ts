// Original file: api/proto/berth/networks/v1/networks.proto


export interface CreateNetworkRequest {
  'name'?: (string);
  'subnet'?: (string);
  'gateway'?: (string);
  'labels'?: ({[key: string]: string});
}

export interface CreateNetworkRequest__Output {
  'name': (string);
  'subnet': (string);
  'gateway': (string);
  'labels': ({[key: string]: string});
}
