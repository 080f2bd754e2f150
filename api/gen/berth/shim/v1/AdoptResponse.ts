// Original file: api/proto/berth/shim/v1/warm.proto


export interface AdoptResponse {
  'address'?: (string);
}

export interface AdoptResponse__Output {
  'address': (string);
}
