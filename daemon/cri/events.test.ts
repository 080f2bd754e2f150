import { describe, expect, it } from 'vitest';
import type { ContainerEventResponse } from '../../api/gen/runtime/v1/ContainerEventResponse.ts';
import type { BerthError } from '../../core/errors.ts';
import { Exchange } from '../events/exchange.ts';
import { CriEvents, maxPendingEvents } from './events.ts';

const log = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined } as never;
const sandboxRecord = (id: string) => ({ id, labels: { 'io.cri-containerd.kind': 'sandbox' }, extensions: {}, sandbox: '' });

function setup(podStatus: (id: string) => Promise<null> = async () => null) {
  const exchange = new Exchange();
  const records = new Map<string, ReturnType<typeof sandboxRecord>>();
  const containers = {
    list: async () => [...records.values()],
    get: async (_ns: string, id: string) => {
      const r = records.get(id);
      if (!r) throw new Error('not found');
      return r;
    },
  };
  const events = new CriEvents({ ns: 'k8s.io', exchange, containers: containers as never, podStatus, containerStatuses: async () => [], log });
  const create = (id: string) => {
    records.set(id, sandboxRecord(id));
    exchange.publish('k8s.io', '/containers/create', 'containerd.events.ContainerCreate', { id });
  };
  const start = (id: string) => exchange.publish('k8s.io', '/tasks/start', 'containerd.events.TaskStart', { container_id: id, pid: 1 });
  return { exchange, events, create, start };
}

const settle = () => new Promise((r) => setTimeout(r, 50));

describe('CriEvents', () => {
  it('turns the exchange events of CRI sandboxes into container events, in order, from the subscription of each client on', async () => {
    const { events, create, start, exchange } = setup();
    const first: ContainerEventResponse[] = [];
    events.subscribe(
      (e) => first.push(e),
      () => undefined,
    );
    await settle();
    create('a');
    start('a');
    // not about a CRI container: nothing
    start('unknown');
    exchange.publish('other-ns', '/tasks/start', 'containerd.events.TaskStart', { container_id: 'a' });
    const later: ContainerEventResponse[] = [];
    events.subscribe(
      (e) => later.push(e),
      () => undefined,
    );
    exchange.publish('k8s.io', '/containers/delete', 'containerd.events.ContainerDelete', { id: 'a' });
    await settle();
    expect(first.map((e) => [e.container_id, e.container_event_type])).toEqual([
      ['a', 'CONTAINER_CREATED_EVENT'],
      ['a', 'CONTAINER_STARTED_EVENT'],
      ['a', 'CONTAINER_DELETED_EVENT'],
    ]);
    expect(later.map((e) => e.container_event_type)).toEqual(['CONTAINER_DELETED_EVENT']);
  });

  it('cuts every client off when events wait to be made faster than they can be', async () => {
    // a status lookup that never answers: no event is ever made
    const { events, create, start } = setup(() => new Promise(() => undefined));
    const cut: BerthError[] = [];
    events.subscribe(
      () => undefined,
      (err) => cut.push(err),
    );
    await settle();
    create('a');
    for (let i = 0; i < maxPendingEvents - 1; i++) start('a');
    expect(cut).toEqual([]);
    start('a');
    expect(cut.map((e) => e.code)).toEqual(['ResourceExhausted']);
  });
});
