// Original file: api/proto/berth/run/v1/run.proto

import type { Started as _berth_services_run_v1_Started, Started__Output as _berth_services_run_v1_Started__Output } from '../../../../berth/services/run/v1/Started.ts';
import type { Exited as _berth_services_run_v1_Exited, Exited__Output as _berth_services_run_v1_Exited__Output } from '../../../../berth/services/run/v1/Exited.ts';

export interface RunEvent {
  'started'?: (_berth_services_run_v1_Started | null);
  'exited'?: (_berth_services_run_v1_Exited | null);
}

export interface RunEvent__Output {
  'started': (_berth_services_run_v1_Started__Output | null);
  'exited': (_berth_services_run_v1_Exited__Output | null);
}
