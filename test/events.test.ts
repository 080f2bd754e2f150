import type * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope__Output as Envelope } from '../api/gen/containerd/services/events/v1/Envelope.ts';
import { Events } from '../api/services.ts';
import { toTimestamp } from '../api/timestamp.ts';
import { packAny, unpackAny } from '../core/any.ts';
import { grpcEvents, metadata } from './support/grpc-js.ts';
import { type Berthd, startBerthd } from './support/harness.ts';
import { errorCode, sleep } from './support/util.ts';

describe('events', () => {
  let d: Berthd;
  beforeAll(async () => {
    d = await startBerthd();
  });
  afterAll(async () => {
    await d?.cleanup();
  });

  const subscribe = async (filters: string[]) => {
    const c = d.client();
    const got: Envelope[] = [];
    const call: grpc.ClientReadableStream<Envelope> = grpcEvents(c).Subscribe({ filters }, metadata(c));
    call.on('data', (e: Envelope) => got.push(e));
    call.on('error', () => undefined);
    await sleep(50);
    return { got, stop: () => call.cancel() };
  };

  it('delivers published and forwarded events to the subscribers whose filters match', async () => {
    const all = await subscribe([]);
    const onlyB = await subscribe(['namespace==b']);
    const tasks = await subscribe(['topic~="^/tasks/"']);
    const exits = await subscribe(['event.exit_status==42']);
    const a = d.client('a');
    const b = d.client('b');
    await a.service(Events).Publish({ topic: '/tasks/exit', event: packAny('containerd.events.TaskExit', { container_id: 'c1', exit_status: 42 }) });
    await b.service(Events).Publish({ topic: '/custom/thing', event: packAny('containerd.events.TaskOOM', { container_id: 'c2' }) });
    await a.service(Events).Forward({
      envelope: {
        timestamp: toTimestamp(Date.now()),
        namespace: 'b',
        topic: '/tasks/start',
        event: packAny('containerd.events.TaskStart', { container_id: 'c3', pid: 7 }),
      },
    });
    await sleep(100);
    for (const s of [all, onlyB, tasks, exits]) s.stop();
    expect(all.got.map((e) => e.topic)).toEqual(['/tasks/exit', '/custom/thing', '/tasks/start']);
    expect(onlyB.got.map((e) => e.topic)).toEqual(['/custom/thing', '/tasks/start']);
    expect(tasks.got.map((e) => `${e.namespace} ${e.topic}`)).toEqual(['a /tasks/exit', 'b /tasks/start']);
    expect(exits.got).toHaveLength(1);
    expect(unpackAny(exits.got[0].event!).message).toMatchObject({ container_id: 'c1', exit_status: 42 });
    expect(all.got[0].event?.type_url).toBe('containerd.events.TaskExit');
  });

  it('validates topics, namespaces and envelopes', async () => {
    const c = d.client();
    const ev = packAny('containerd.events.TaskOOM', { container_id: 'x' });
    for (const topic of ['', 'tasks/exit', '/', '/tasks//exit', '/tasks/../x']) {
      expect(await errorCode(c.service(Events).Publish({ topic, event: ev })), topic).toBe('InvalidArgument');
    }
    expect(await errorCode(c.service(Events).Forward({ envelope: { namespace: 'ok', topic: '/a', event: ev } }))).toBe('InvalidArgument');
    expect(await errorCode(c.service(Events).Forward({ envelope: { timestamp: toTimestamp(Date.now()), namespace: 'no/t ok', topic: '/a', event: ev } }))).toBe(
      'InvalidArgument',
    );
    const bad = d.client();
    const call = grpcEvents(bad).Subscribe({ filters: ['topic=='] }, metadata(bad));
    const code = await new Promise<number>((resolve) => call.on('error', (e: grpc.ServiceError) => resolve(e.code)));
    expect(code).toBe(3);
  });

  it("publishes the daemon's own events, e.g. /content/delete", async () => {
    const s = await subscribe(['topic=="/content/delete"']);
    const c = d.client('evc');
    await c.leases.Create({ id: 'l' });
    const { writeBlob } = await import('../transport/clients/content.ts');
    const w = d.client('evc', 'l');
    const r = await writeBlob(w, Buffer.from('bye'), { ref: 'bye' });
    await c.content.Delete({ digest: r.digest });
    await sleep(100);
    s.stop();
    expect(s.got).toHaveLength(1);
    expect(unpackAny(s.got[0].event!).message).toEqual({ digest: r.digest });
  });
});
