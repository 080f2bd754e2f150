// Original file: api/proto/berth/shim/v1/warm.proto


export interface AdoptRequest {
  'namespace'?: (string);
  'id'?: (string);
  'bundle'?: (string);
  'options'?: (Buffer | Uint8Array | string);
}

export interface AdoptRequest__Output {
  'namespace': (string);
  'id': (string);
  'bundle': (string);
  'options': (Buffer);
}
