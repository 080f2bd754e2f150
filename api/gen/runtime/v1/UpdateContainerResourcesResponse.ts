// Original file: api/proto/k8s.io/cri-api/runtime/v1/api.proto


export interface UpdateContainerResourcesResponse {
}

export interface UpdateContainerResourcesResponse__Output {
}
