// Original file: api/proto/berth/run/v1/run.proto

import type { SpecMount as _berth_services_run_v1_SpecMount, SpecMount__Output as _berth_services_run_v1_SpecMount__Output } from '../../../../berth/services/run/v1/SpecMount.ts';
import type { Long } from '@grpc/proto-loader';

export interface SpecOptions {
  'args'?: (string)[];
  'env'?: (string)[];
  'env_file'?: (string)[];
  'cwd'?: (string);
  'user'?: (string);
  'mounts'?: (_berth_services_run_v1_SpecMount)[];
  'tty'?: (boolean);
  'console_width'?: (number);
  'console_height'?: (number);
  'net_host'?: (boolean);
  'hostname'?: (string);
  'memory_limit'?: (number | string | Long);
  'cpus'?: (number | string);
  'cpu_shares'?: (number | string | Long);
  'pids_limit'?: (number | string | Long);
  'read_only'?: (boolean);
  'privileged'?: (boolean);
  'cap_add'?: (string)[];
  'cap_drop'?: (string)[];
  'spec_labels'?: ({[key: string]: string});
  'annotations'?: ({[key: string]: string});
  'seccomp_unconfined'?: (boolean);
  'seccomp_profile'?: (string);
  'seccomp_profile_source'?: (string);
}

export interface SpecOptions__Output {
  'args': (string)[];
  'env': (string)[];
  'env_file': (string)[];
  'cwd': (string);
  'user': (string);
  'mounts': (_berth_services_run_v1_SpecMount__Output)[];
  'tty': (boolean);
  'console_width': (number);
  'console_height': (number);
  'net_host': (boolean);
  'hostname': (string);
  'memory_limit': (number);
  'cpus': (number);
  'cpu_shares': (number);
  'pids_limit': (number);
  'read_only': (boolean);
  'privileged': (boolean);
  'cap_add': (string)[];
  'cap_drop': (string)[];
  'spec_labels': ({[key: string]: string});
  'annotations': ({[key: string]: string});
  'seccomp_unconfined': (boolean);
  'seccomp_profile': (string);
  'seccomp_profile_source': (string);
}
