// Original file: api/proto/containerd/services/introspection/v1/introspection.proto

import type { Plugin as _containerd_services_introspection_v1_Plugin, Plugin__Output as _containerd_services_introspection_v1_Plugin__Output } from '../../../../containerd/services/introspection/v1/Plugin.ts';
import type { Any as _google_protobuf_Any, Any__Output as _google_protobuf_Any__Output } from '../../../../google/protobuf/Any.ts';

export interface PluginInfoResponse {
  'plugin'?: (_containerd_services_introspection_v1_Plugin | null);
  'extra'?: (_google_protobuf_Any | null);
}

export interface PluginInfoResponse__Output {
  'plugin': (_containerd_services_introspection_v1_Plugin__Output | null);
  'extra': (_google_protobuf_Any__Output | null);
}
