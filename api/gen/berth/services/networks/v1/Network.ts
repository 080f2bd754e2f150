// Original file: api/proto/berth/networks/v1/networks.proto


export interface Network {
  'name'?: (string);
  'subnets'?: (string)[];
  'gateway'?: (string);
  'bridge'?: (string);
  'default'?: (boolean);
  'owner'?: (string);
  'config_path'?: (string);
  'conflist'?: (string);
  'labels'?: ({[key: string]: string});
}

export interface Network__Output {
  'name': (string);
  'subnets': (string)[];
  'gateway': (string);
  'bridge': (string);
  'default': (boolean);
  'owner': (string);
  'config_path': (string);
  'conflist': (string);
  'labels': ({[key: string]: string});
}
