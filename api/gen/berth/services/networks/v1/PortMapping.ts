// Original file: api/proto/berth/networks/v1/networks.proto


export interface PortMapping {
  'host_port'?: (number);
  'container_port'?: (number);
  'protocol'?: (string);
  'host_ip'?: (string);
}

export interface PortMapping__Output {
  'host_port': (number);
  'container_port': (number);
  'protocol': (string);
  'host_ip': (string);
}
