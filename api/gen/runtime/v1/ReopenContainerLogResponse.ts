// Original file: api/proto/k8s.io/cri-api/runtime/v1/api.proto


export interface ReopenContainerLogResponse {
}

export interface ReopenContainerLogResponse__Output {
}
