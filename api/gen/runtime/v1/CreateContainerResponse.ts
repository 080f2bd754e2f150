// Original file: api/proto/k8s.io/cri-api/runtime/v1/api.proto


export interface CreateContainerResponse {
  'container_id'?: (string);
}

export interface CreateContainerResponse__Output {
  'container_id': (string);
}
