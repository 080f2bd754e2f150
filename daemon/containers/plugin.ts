import { grpcServicePlugin, PluginType } from '../plugin.ts';
import { metadataStorePlugin } from '../store-plugin.ts';
import { containersService } from './service.ts';
import { ContainerStore } from './store.ts';

export type { AnyValue, Container, ContainerInput, Runtime } from './store.ts';
export { ContainerStore } from './store.ts';

/**
 * The container store (containerd's io.containerd.service.v1 containers-service). The tasks
 * service finds it with ctx.get(PluginType.service, 'containers-service').
 */
export const containersPlugin = metadataStorePlugin('containers-service', ContainerStore);

export const containersServicePlugin = grpcServicePlugin('containers', PluginType.service, containersService, 'containers-service');
