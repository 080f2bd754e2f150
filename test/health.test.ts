import type * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Health } from '../api/services.ts';
import { packAny } from '../core/any.ts';
import { grpcClient } from './support/grpc-js.ts';
import { type Berthd, startBerthd } from './support/harness.ts';
import { errorCode } from './support/util.ts';

/** What a Watch stream has said so far, and whether it ended. */
function watch(client: grpc.Client & { Watch(req: object): grpc.ClientReadableStream<{ status: string }> }, service: string) {
  const seen: string[] = [];
  const call = client.Watch({ service });
  const ended = new Promise<string>((resolve) => {
    call.on('end', () => resolve('ended'));
    call.on('error', (err: grpc.ServiceError) => resolve(`error ${err.code}`));
  });
  call.on('data', (m: { status: string }) => seen.push(m.status));
  return { seen, ended, cancel: () => call.cancel() };
}

const until = async (cond: () => boolean, ms = 5000) => {
  for (const end = Date.now() + ms; !cond() && Date.now() < end; ) await new Promise((r) => setTimeout(r, 20));
};

describe('health and introspection, as containerd clients manage their connection', () => {
  let d: Berthd;
  beforeAll(async () => {
    d = await startBerthd();
  });
  afterAll(async () => {
    await d?.cleanup();
  });

  it('Check answers SERVING for the server and each service it serves, NOT_FOUND for others', async () => {
    const c = d.client();
    for (const service of ['', 'containerd.services.tasks.v1.Tasks', 'containerd.services.events.v1.Events', 'grpc.health.v1.Health']) {
      expect(await c.service(Health).Check({ service }), service).toEqual({ status: 'SERVING' });
    }
    expect(await errorCode(c.service(Health).Check({ service: 'containerd.services.nothing.v1.Nothing' }))).toBe('NotFound');
    const list = await c.service(Health).List({});
    expect(list.statuses['']).toEqual({ status: 'SERVING' });
    expect(list.statuses['containerd.services.content.v1.Content']).toEqual({ status: 'SERVING' });
  });

  it('Server names the same daemon across restarts with its pid and pid namespace; PluginInfo finds one plugin', async () => {
    const c = d.client();
    const before = await c.introspection.Server({});
    expect(before.uuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(before.pid).toBe(d.pid());
    expect(before.pidns).toBeGreaterThan(0);
    const info = await c.introspection.PluginInfo({
      type: 'io.containerd.runtime.v2',
      id: 'task',
    });
    expect(info.plugin).toMatchObject({ type: 'io.containerd.runtime.v2', id: 'task' });
    expect(info.plugin?.platforms.length).toBe(1);
    expect(await errorCode(c.introspection.PluginInfo({ type: 'io.containerd.runtime.v2', id: 'nope' }))).toBe('NotFound');
    const options = packAny('containerd.services.introspection.v1.PluginsRequest', { filters: [] });
    expect(await errorCode(c.introspection.PluginInfo({ type: 'io.containerd.grpc.v1', id: 'healthcheck', options }))).toBe('Unimplemented');

    await d.stop();
    await d.restart();
    const after = await d.client().introspection.Server({});
    expect(after.uuid).toBe(before.uuid);
    expect(after.pid).toBe(d.pid());
  });

  it('Watch says SERVING at once, SERVICE_UNKNOWN for a service not served, and NOT_SERVING when berthd stops', async () => {
    const client = grpcClient<grpc.Client & { Watch(req: object): grpc.ClientReadableStream<{ status: string }> }>(d.client(), Health);
    const server = watch(client, '');
    const tasks = watch(client, 'containerd.services.tasks.v1.Tasks');
    const unknown = watch(client, 'no.such.Service');
    await until(() => server.seen.length > 0 && tasks.seen.length > 0 && unknown.seen.length > 0);
    expect(server.seen).toEqual(['SERVING']);
    expect(tasks.seen).toEqual(['SERVING']);
    expect(unknown.seen).toEqual(['SERVICE_UNKNOWN']);

    await d.stop();
    expect(await server.ended).toBe('ended');
    expect(server.seen).toEqual(['SERVING', 'NOT_SERVING']);
    expect(tasks.seen).toEqual(['SERVING', 'NOT_SERVING']);
    expect(unknown.seen).toEqual(['SERVICE_UNKNOWN']);
    await d.restart();
  });
});
