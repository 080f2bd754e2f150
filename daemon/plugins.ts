import { containersPlugin, containersServicePlugin } from './containers/plugin.ts';
import { contentPlugin, contentServicePlugin } from './content/plugin.ts';
import { criPlugin } from './cri/plugin.ts';
import { diffPlugins } from './diff/plugin.ts';
import { eventsServicePlugin, exchangePlugin } from './events/plugin.ts';
import { gcPlugin } from './gc/plugin.ts';
import { healthcheckPlugin } from './health/plugin.ts';
import { imagesPlugin, imagesServicePlugin } from './images/plugin.ts';
import { introspectionPlugin } from './introspection/plugin.ts';
import { leasePlugin, leasesServicePlugin } from './leases/plugin.ts';
import { logStorePlugin, logsServicePlugin } from './logs/plugin.ts';
import { metadataPlugin } from './metadata/plugin.ts';
import { namespacesServicePlugin } from './namespaces/plugin.ts';
import { attachPlugin } from './network/attach-plugin.ts';
import { networkPlugin, networksServicePlugin } from './network/plugin.ts';
import { PluginRegistry } from './plugin.ts';
import { pullServicePlugin } from './pull/plugin.ts';
import { runServicePlugin } from './run/plugin.ts';
import { runtimePlugin } from './runtime/plugin.ts';
import { nativePlugin, overlayPlugin, snapshotsServicePlugin } from './snapshots/plugin.ts';
import { tasksServicePlugin } from './tasks/plugin.ts';
import { versionServicePlugin } from './version/plugin.ts';
import { volumeStorePlugin, volumesServicePlugin } from './volumes/plugin.ts';

/** Everything built into berthd: the table of contents of the daemon. */
export function builtinPlugins(): PluginRegistry {
  const registry = new PluginRegistry();
  for (const plugin of [
    exchangePlugin,
    metadataPlugin,
    gcPlugin,
    contentPlugin,
    imagesPlugin,
    containersPlugin,
    leasePlugin,
    logStorePlugin,
    volumeStorePlugin,
    overlayPlugin,
    nativePlugin,
    contentServicePlugin,
    snapshotsServicePlugin,
    imagesServicePlugin,
    containersServicePlugin,
    networkPlugin,
    attachPlugin,
    runtimePlugin,
    tasksServicePlugin,
    ...diffPlugins,
    pullServicePlugin,
    criPlugin,
    runServicePlugin,
    logsServicePlugin,
    leasesServicePlugin,
    namespacesServicePlugin,
    eventsServicePlugin,
    networksServicePlugin,
    volumesServicePlugin,
    versionServicePlugin,
    introspectionPlugin(registry),
    healthcheckPlugin,
  ]) {
    registry.register(plugin);
  }
  return registry;
}
