// Original file: api/proto/berth/volumes/v1/volumes.proto

import type { Volume as _berth_services_volumes_v1_Volume, Volume__Output as _berth_services_volumes_v1_Volume__Output } from '../../../../berth/services/volumes/v1/Volume.ts';
import type { Long } from '@grpc/proto-loader';

export interface PruneVolumesResponse {
  'removed'?: (_berth_services_volumes_v1_Volume)[];
  'reclaimed_bytes'?: (number | string | Long);
}

export interface PruneVolumesResponse__Output {
  'removed': (_berth_services_volumes_v1_Volume__Output)[];
  'reclaimed_bytes': (number);
}
