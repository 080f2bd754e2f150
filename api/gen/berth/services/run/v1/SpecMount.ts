// Original file: api/proto/berth/run/v1/run.proto


export interface SpecMount {
  'destination'?: (string);
  'type'?: (string);
  'source'?: (string);
  'options'?: (string)[];
}

export interface SpecMount__Output {
  'destination': (string);
  'type': (string);
  'source': (string);
  'options': (string)[];
}
