// Original file: api/proto/berth/networks/v1/networks.proto

import type { Network as _berth_services_networks_v1_Network, Network__Output as _berth_services_networks_v1_Network__Output } from '../../../../berth/services/networks/v1/Network.ts';

export interface ListNetworksResponse {
  'networks'?: (_berth_services_networks_v1_Network)[];
}

export interface ListNetworksResponse__Output {
  'networks': (_berth_services_networks_v1_Network__Output)[];
}
