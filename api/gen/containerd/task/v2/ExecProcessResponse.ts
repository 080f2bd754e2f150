// Original file: api/proto/containerd/runtime/task/v2/shim.proto


export interface ExecProcessResponse {
}

export interface ExecProcessResponse__Output {
}
