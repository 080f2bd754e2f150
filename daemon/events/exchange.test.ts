import { describe, expect, it } from 'vitest';
import { packAny, unpackAny } from '../../core/any.ts';
import { type Envelope, Exchange } from './exchange.ts';

const idOf = (e: Envelope) => (unpackAny(e.event).message as { container_id: string }).container_id;
const exit = (id: string, timestamp = Date.now()): Envelope => ({
  timestamp,
  namespace: 'n',
  topic: '/tasks/exit',
  event: packAny('containerd.events.TaskExit', { container_id: id }),
});

describe('Exchange: events nobody could see', () => {
  it('gives what happened before berthd served, or before it started, to each subscriber of the window, once', async () => {
    const x = new Exchange();
    x.forward(exit('before-serving'));
    x.startServing(200);
    x.forward(exit('while-down', Date.now() - 60_000)); // a shim's event from before this berthd
    x.forward(exit('live'));
    const first: string[] = [];
    x.subscribe([], (e) => first.push(`${e.topic} ${idOf(e)}`));
    x.forward(exit('after'));
    const second: string[] = [];
    x.subscribe(['topic=="/tasks/exit"'], (e) => second.push(idOf(e)));
    expect(first).toEqual(['/tasks/exit before-serving', '/tasks/exit while-down', '/tasks/exit after']);
    expect(second).toEqual(['before-serving', 'while-down']);

    await new Promise((r) => setTimeout(r, 300));
    const late: string[] = [];
    x.subscribe([], (e) => late.push(e.topic));
    x.forward(exit('old again', Date.now() - 60_000));
    expect(late).toEqual(['/tasks/exit']);
    const later: string[] = [];
    x.subscribe([], (e) => later.push(e.topic));
    expect(later).toEqual([]);
  });
});
