// Original file: api/proto/containerd/events/snapshot.proto


export interface SnapshotRemove {
  'key'?: (string);
  'snapshotter'?: (string);
}

export interface SnapshotRemove__Output {
  'key': (string);
  'snapshotter': (string);
}
