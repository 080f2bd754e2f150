// Original file: api/proto/berth/pull/v1/pull.proto


export interface PullRequest {
  'ref'?: (string);
  'platform'?: (string);
  'all_platforms'?: (boolean);
  'skip_unpack'?: (boolean);
  'snapshotter'?: (string);
  'plain_http'?: (boolean);
  'skip_verify'?: (boolean);
  'ca_pem'?: (string);
  'username'?: (string);
  'password'?: (string);
  'max_concurrent_downloads'?: (number);
}

export interface PullRequest__Output {
  'ref': (string);
  'platform': (string);
  'all_platforms': (boolean);
  'skip_unpack': (boolean);
  'snapshotter': (string);
  'plain_http': (boolean);
  'skip_verify': (boolean);
  'ca_pem': (string);
  'username': (string);
  'password': (string);
  'max_concurrent_downloads': (number);
}
