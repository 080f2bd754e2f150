import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Metadata, status } from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Logger } from '../log.ts';
import type { GrpcService, ServiceRegistrar } from '../plugin.ts';
import { networkSettings } from './plugin.ts';
import { networksService } from './service.ts';
import { NetworkStore } from './store.ts';

const quiet: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {}, child: () => quiet };

type Handler = (call: { request: unknown; metadata: Metadata }, callback: (err: { code: number; details?: string } | null, res?: unknown) => void) => void;

/** The handlers a service registers, called as the server would (the namespace in the metadata). */
function handlersOf(service: GrpcService): (method: string, request: unknown, namespace?: string) => Promise<unknown> {
  let handlers: Record<string, Handler> = {};
  const server: ServiceRegistrar = {
    addService: (_s, h) => {
      handlers = h as unknown as Record<string, Handler>;
    },
  };
  service.register(server);
  return (method, request, namespace = 'default') =>
    new Promise((resolve, reject) => {
      const metadata = new Metadata();
      metadata.set('containerd-namespace', namespace);
      handlers[method]!({ request, metadata }, (err, res) => (err ? reject(err) : resolve(res)));
    });
}

describe('the Networks service', () => {
  let dir: string;
  let call: ReturnType<typeof handlersOf>;

  beforeEach(async () => {
    dir = mkdtempSync('/tmp/berth-netsvc-');
    const settings = networkSettings({ conf_dir: join(dir, 'etc'), default_bridge: 'bt1' }, join(dir, 'root'), join(dir, 'state'));
    const host = { ensureIsolation: async () => {}, removeIsolation: async () => {}, removeBridge: async () => {} };
    const store = new NetworkStore(settings, quiet, { host, hostNetworks: () => [] });
    await store.init();
    store.useAttachments({
      get: (ns, id) =>
        ns === 'team' && id === 'web'
          ? {
              namespace: ns,
              container: id,
              networks: [{ name: 'bridge', ifName: 'eth0', ips: ['10.77.0.2/16'], mac: '02:00:00:00:00:01', gateway: '10.77.0.1' }],
              ports: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }],
            }
          : undefined,
      usersOf: () => [],
    });
    call = handlersOf(networksService(store));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("answers Attachment with the container's networking in the call's namespace", async () => {
    expect(await call('Attachment', { container_id: 'web' }, 'team')).toEqual({
      networking: {
        namespace: 'team',
        container_id: 'web',
        networks: [{ name: 'bridge', if_name: 'eth0', ips: ['10.77.0.2/16'], mac: '02:00:00:00:00:01', gateway: '10.77.0.1' }],
        ports: [{ host_port: 8080, container_port: 80, protocol: 'tcp', host_ip: '' }],
      },
    });
    await expect(call('Attachment', { container_id: 'web' }, 'default')).rejects.toMatchObject({
      code: status.NOT_FOUND,
      details: 'container "web" in namespace "default" has no networking: not found',
    });
    await expect(call('Attachment', { container_id: '' })).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
  });

  it('creates, gets, lists and deletes, with the list as JSON text', async () => {
    const created = (await call('Create', { name: 'n1', subnet: '10.9.0.0/24', gateway: '', labels: { a: 'b' } })) as { network: Record<string, unknown> };
    expect(created.network).toMatchObject({ name: 'n1', subnets: ['10.9.0.0/24'], gateway: '10.9.0.1', default: false, owner: 'berth', labels: { a: 'b' } });
    expect(JSON.parse(created.network.conflist as string).name).toBe('n1');
    expect(((await call('List', {})) as { networks: Array<{ name: string }> }).networks.map((n) => n.name)).toEqual(['bridge', 'n1']);
    await call('Delete', { name: 'n1' });
    await expect(call('Get', { name: 'n1' })).rejects.toMatchObject({ code: status.NOT_FOUND });
    await expect(call('Delete', { name: 'bridge' })).rejects.toMatchObject({ code: status.FAILED_PRECONDITION });
  });
});
