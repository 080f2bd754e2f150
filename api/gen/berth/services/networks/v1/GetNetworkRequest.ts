// Original file: api/proto/berth/networks/v1/networks.proto


export interface GetNetworkRequest {
  'name'?: (string);
}

export interface GetNetworkRequest__Output {
  'name': (string);
}
