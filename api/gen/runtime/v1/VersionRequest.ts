// Original file: api/proto/k8s.io/cri-api/runtime/v1/api.proto


export interface VersionRequest {
  'version'?: (string);
}

export interface VersionRequest__Output {
  'version': (string);
}
