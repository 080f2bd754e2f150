// Original file: api/proto/containerd/events/snapshot.proto


export interface SnapshotCommit {
  'key'?: (string);
  'name'?: (string);
  'snapshotter'?: (string);
}

export interface SnapshotCommit__Output {
  'key': (string);
  'name': (string);
  'snapshotter': (string);
}
