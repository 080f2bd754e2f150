// Original file: api/proto/containerd/runtime/task/v2/shim.proto


export interface CreateTaskResponse {
  'pid'?: (number);
}

export interface CreateTaskResponse__Output {
  'pid': (number);
}
