// Original file: api/proto/berth/networks/v1/networks.proto

import type { NetworkAttachment as _berth_services_networks_v1_NetworkAttachment, NetworkAttachment__Output as _berth_services_networks_v1_NetworkAttachment__Output } from '../../../../berth/services/networks/v1/NetworkAttachment.ts';
import type { PortMapping as _berth_services_networks_v1_PortMapping, PortMapping__Output as _berth_services_networks_v1_PortMapping__Output } from '../../../../berth/services/networks/v1/PortMapping.ts';

export interface ContainerNetworking {
  'namespace'?: (string);
  'container_id'?: (string);
  'networks'?: (_berth_services_networks_v1_NetworkAttachment)[];
  'ports'?: (_berth_services_networks_v1_PortMapping)[];
}

export interface ContainerNetworking__Output {
  'namespace': (string);
  'container_id': (string);
  'networks': (_berth_services_networks_v1_NetworkAttachment__Output)[];
  'ports': (_berth_services_networks_v1_PortMapping__Output)[];
}
