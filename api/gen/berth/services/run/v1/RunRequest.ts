// Original file: api/proto/berth/run/v1/run.proto

import type { SpecOptions as _berth_services_run_v1_SpecOptions, SpecOptions__Output as _berth_services_run_v1_SpecOptions__Output } from '../../../../berth/services/run/v1/SpecOptions.ts';

export interface RunRequest {
  'image'?: (string);
  'container_id'?: (string);
  'spec'?: (_berth_services_run_v1_SpecOptions | null);
  'labels'?: ({[key: string]: string});
  'runtime'?: (string);
  'runc_binary'?: (string);
  'snapshotter'?: (string);
  'platform'?: (string);
  'stdin'?: (string);
  'stdout'?: (string);
  'stderr'?: (string);
  'terminal'?: (boolean);
  'auto_remove'?: (boolean);
  'detach'?: (boolean);
}

export interface RunRequest__Output {
  'image': (string);
  'container_id': (string);
  'spec': (_berth_services_run_v1_SpecOptions__Output | null);
  'labels': ({[key: string]: string});
  'runtime': (string);
  'runc_binary': (string);
  'snapshotter': (string);
  'platform': (string);
  'stdin': (string);
  'stdout': (string);
  'stderr': (string);
  'terminal': (boolean);
  'auto_remove': (boolean);
  'detach': (boolean);
}
