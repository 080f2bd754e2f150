// Original file: api/proto/containerd/events/snapshot.proto


export interface SnapshotPrepare {
  'key'?: (string);
  'parent'?: (string);
  'snapshotter'?: (string);
}

export interface SnapshotPrepare__Output {
  'key': (string);
  'parent': (string);
  'snapshotter': (string);
}
