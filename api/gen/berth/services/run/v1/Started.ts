// Original file: api/proto/berth/run/v1/run.proto


export interface Started {
  'pid'?: (number);
  'warnings'?: (string)[];
}

export interface Started__Output {
  'pid': (number);
  'warnings': (string)[];
}
