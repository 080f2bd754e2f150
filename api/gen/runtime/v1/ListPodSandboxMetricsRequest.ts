// Original file: api/proto/k8s.io/cri-api/runtime/v1/api.proto


export interface ListPodSandboxMetricsRequest {
}

export interface ListPodSandboxMetricsRequest__Output {
}
