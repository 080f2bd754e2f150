// Original file: api/proto/k8s.io/cri-api/runtime/v1/api.proto


export interface PodIP {
  'ip'?: (string);
}

export interface PodIP__Output {
  'ip': (string);
}
