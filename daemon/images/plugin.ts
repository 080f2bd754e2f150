import { grpcServicePlugin, PluginType } from '../plugin.ts';
import { metadataStorePlugin } from '../store-plugin.ts';
import { imagesService } from './service.ts';
import { ImageStore } from './store.ts';

/** The image store (containerd's io.containerd.service.v1 images-service). */
export const imagesPlugin = metadataStorePlugin('images-service', ImageStore);

export const imagesServicePlugin = grpcServicePlugin('images', PluginType.service, imagesService, 'images-service');
