import { methodDefinition, ServiceRef } from '../api/codec.ts';
import type { Channel } from './grpc/channel.ts';
import { type ClientOptions, type MethodCodecs, ServiceClient } from './service-client.ts';

export type { CallScope, ClientOptions, MethodCodecs } from './service-client.ts';

/** protobufjs's codecs, from the build's descriptors (api/codec.ts): every method of api/proto. */
const protobufCodecs: MethodCodecs = (service, method) => methodDefinition(new ServiceRef(service.dir, service.name), method);

/** The client for berthd (or containerd): a ServiceClient (service-client.ts) with protobufjs's codecs. */
export class BerthClient extends ServiceClient {
  /** `channel`: a connection to share (another client owns it and closes it). */
  constructor(options: ClientOptions, channel?: Channel) {
    super(options, protobufCodecs, channel);
  }
}
