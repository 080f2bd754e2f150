// Original file: api/proto/berth/networks/v1/networks.proto


export interface NetworkAttachment {
  'name'?: (string);
  'if_name'?: (string);
  'ips'?: (string)[];
  'mac'?: (string);
  'gateway'?: (string);
}

export interface NetworkAttachment__Output {
  'name': (string);
  'if_name': (string);
  'ips': (string)[];
  'mac': (string);
  'gateway': (string);
}
