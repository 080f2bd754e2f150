import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { DeprecationWarning as _containerd_services_introspection_v1_DeprecationWarning, DeprecationWarning__Output as _containerd_services_introspection_v1_DeprecationWarning__Output } from './containerd/services/introspection/v1/DeprecationWarning.ts';
import type { IntrospectionClient as _containerd_services_introspection_v1_IntrospectionClient, IntrospectionDefinition as _containerd_services_introspection_v1_IntrospectionDefinition } from './containerd/services/introspection/v1/Introspection.ts';
import type { Plugin as _containerd_services_introspection_v1_Plugin, Plugin__Output as _containerd_services_introspection_v1_Plugin__Output } from './containerd/services/introspection/v1/Plugin.ts';
import type { PluginInfoRequest as _containerd_services_introspection_v1_PluginInfoRequest, PluginInfoRequest__Output as _containerd_services_introspection_v1_PluginInfoRequest__Output } from './containerd/services/introspection/v1/PluginInfoRequest.ts';
import type { PluginInfoResponse as _containerd_services_introspection_v1_PluginInfoResponse, PluginInfoResponse__Output as _containerd_services_introspection_v1_PluginInfoResponse__Output } from './containerd/services/introspection/v1/PluginInfoResponse.ts';
import type { PluginsRequest as _containerd_services_introspection_v1_PluginsRequest, PluginsRequest__Output as _containerd_services_introspection_v1_PluginsRequest__Output } from './containerd/services/introspection/v1/PluginsRequest.ts';
import type { PluginsResponse as _containerd_services_introspection_v1_PluginsResponse, PluginsResponse__Output as _containerd_services_introspection_v1_PluginsResponse__Output } from './containerd/services/introspection/v1/PluginsResponse.ts';
import type { ServerResponse as _containerd_services_introspection_v1_ServerResponse, ServerResponse__Output as _containerd_services_introspection_v1_ServerResponse__Output } from './containerd/services/introspection/v1/ServerResponse.ts';
import type { Platform as _containerd_types_Platform, Platform__Output as _containerd_types_Platform__Output } from './containerd/types/Platform.ts';
import type { Any as _google_protobuf_Any, Any__Output as _google_protobuf_Any__Output } from './google/protobuf/Any.ts';
import type { Empty as _google_protobuf_Empty, Empty__Output as _google_protobuf_Empty__Output } from './google/protobuf/Empty.ts';
import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from './google/protobuf/Timestamp.ts';
import type { Status as _google_rpc_Status, Status__Output as _google_rpc_Status__Output } from './google/rpc/Status.ts';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  containerd: {
    services: {
      introspection: {
        v1: {
          DeprecationWarning: MessageTypeDefinition<_containerd_services_introspection_v1_DeprecationWarning, _containerd_services_introspection_v1_DeprecationWarning__Output>
          Introspection: SubtypeConstructor<typeof grpc.Client, _containerd_services_introspection_v1_IntrospectionClient> & { service: _containerd_services_introspection_v1_IntrospectionDefinition }
          Plugin: MessageTypeDefinition<_containerd_services_introspection_v1_Plugin, _containerd_services_introspection_v1_Plugin__Output>
          PluginInfoRequest: MessageTypeDefinition<_containerd_services_introspection_v1_PluginInfoRequest, _containerd_services_introspection_v1_PluginInfoRequest__Output>
          PluginInfoResponse: MessageTypeDefinition<_containerd_services_introspection_v1_PluginInfoResponse, _containerd_services_introspection_v1_PluginInfoResponse__Output>
          PluginsRequest: MessageTypeDefinition<_containerd_services_introspection_v1_PluginsRequest, _containerd_services_introspection_v1_PluginsRequest__Output>
          PluginsResponse: MessageTypeDefinition<_containerd_services_introspection_v1_PluginsResponse, _containerd_services_introspection_v1_PluginsResponse__Output>
          ServerResponse: MessageTypeDefinition<_containerd_services_introspection_v1_ServerResponse, _containerd_services_introspection_v1_ServerResponse__Output>
        }
      }
    }
    types: {
      Platform: MessageTypeDefinition<_containerd_types_Platform, _containerd_types_Platform__Output>
    }
  }
  google: {
    protobuf: {
      Any: MessageTypeDefinition<_google_protobuf_Any, _google_protobuf_Any__Output>
      Empty: MessageTypeDefinition<_google_protobuf_Empty, _google_protobuf_Empty__Output>
      Timestamp: MessageTypeDefinition<_google_protobuf_Timestamp, _google_protobuf_Timestamp__Output>
    }
    rpc: {
      Status: MessageTypeDefinition<_google_rpc_Status, _google_rpc_Status__Output>
    }
  }
}

