// Original file: api/proto/k8s.io/cri-api/runtime/v1/api.proto


export interface PortForwardResponse {
  'url'?: (string);
}

export interface PortForwardResponse__Output {
  'url': (string);
}
