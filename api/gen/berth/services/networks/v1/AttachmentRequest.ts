// Original file: api/proto/berth/networks/v1/networks.proto


export interface AttachmentRequest {
  'container_id'?: (string);
}

export interface AttachmentRequest__Output {
  'container_id': (string);
}
