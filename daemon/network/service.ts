import type { Network as NetworkMessage } from '../../api/gen/berth/services/networks/v1/Network.ts';
import type { NetworksHandlers } from '../../api/gen/berth/services/networks/v1/Networks.ts';
import { Networks } from '../../api/services.ts';
import { invalidArgument, notFound } from '../../core/errors.ts';
import { empty, namespaceOf, unary } from '../grpc.ts';
import type { GrpcService } from '../plugin.ts';
import type { Network } from './cni/types.ts';
import type { NetworkStore } from './store.ts';

function toMessage(n: Network): NetworkMessage {
  return {
    name: n.name,
    subnets: n.subnets,
    gateway: n.gateway ?? '',
    bridge: n.bridge ?? '',
    default: n.default,
    owner: n.owner,
    config_path: n.path,
    conflist: JSON.stringify(n.list),
    labels: n.labels,
  };
}

/** berth.services.networks.v1.Networks over the network store (see networks.proto). */
export function networksService(store: NetworkStore): GrpcService {
  const handlers: NetworksHandlers = {
    Create: unary(async (req) => {
      if (!req.name) throw invalidArgument('name is required');
      const network = await store.create({ name: req.name, subnet: req.subnet || undefined, gateway: req.gateway || undefined, labels: req.labels });
      return { network: toMessage(network) };
    }),
    Get: unary(async (req) => {
      if (!req.name) throw invalidArgument('name is required');
      return { network: toMessage(await store.get(req.name)) };
    }),
    List: unary(async () => ({ networks: (await store.list()).map(toMessage) })),
    Delete: unary(async (req) => {
      if (!req.name) throw invalidArgument('name is required');
      await store.remove(req.name);
      return empty;
    }),
    Attachment: unary(async (req, call) => {
      if (!req.container_id) throw invalidArgument('container_id is required');
      const ns = namespaceOf(call);
      const found = store.attachments.get(ns, req.container_id);
      if (!found) throw notFound(`container "${req.container_id}" in namespace "${ns}" has no networking`);
      return {
        networking: {
          namespace: found.namespace,
          container_id: found.container,
          networks: found.networks.map((n) => ({ name: n.name, if_name: n.ifName, ips: n.ips, mac: n.mac ?? '', gateway: n.gateway ?? '' })),
          ports: found.ports.map((p) => ({ host_port: p.hostPort, container_port: p.containerPort, protocol: p.protocol, host_ip: p.hostIP ?? '' })),
        },
      };
    }),
  };
  return {
    register(server) {
      server.addService(Networks, handlers);
    },
  };
}
