// Original file: api/proto/berth/networks/v1/networks.proto

import type { ContainerNetworking as _berth_services_networks_v1_ContainerNetworking, ContainerNetworking__Output as _berth_services_networks_v1_ContainerNetworking__Output } from '../../../../berth/services/networks/v1/ContainerNetworking.ts';

export interface AttachmentResponse {
  'networking'?: (_berth_services_networks_v1_ContainerNetworking | null);
}

export interface AttachmentResponse__Output {
  'networking': (_berth_services_networks_v1_ContainerNetworking__Output | null);
}
