// Original file: api/proto/berth/volumes/v1/volumes.proto

import type { Volume as _berth_services_volumes_v1_Volume, Volume__Output as _berth_services_volumes_v1_Volume__Output } from '../../../../berth/services/volumes/v1/Volume.ts';

export interface GetVolumeResponse {
  'volume'?: (_berth_services_volumes_v1_Volume | null);
  'used_by'?: (string)[];
}

export interface GetVolumeResponse__Output {
  'volume': (_berth_services_volumes_v1_Volume__Output | null);
  'used_by': (string)[];
}
