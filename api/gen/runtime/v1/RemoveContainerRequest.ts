// Original file: api/proto/k8s.io/cri-api/runtime/v1/api.proto


export interface RemoveContainerRequest {
  'container_id'?: (string);
}

export interface RemoveContainerRequest__Output {
  'container_id': (string);
}
