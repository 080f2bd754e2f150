// Original file: api/proto/k8s.io/cri-api/runtime/v1/api.proto


export interface StartContainerRequest {
  'container_id'?: (string);
}

export interface StartContainerRequest__Output {
  'container_id': (string);
}
