import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
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

describe('Exchange with a journal', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'berth-exchange-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const open = () => Exchange.withJournal(dir, { maxBytes: 1024 * 1024 });
  const start = (id: string): Envelope => ({
    timestamp: Date.now(),
    namespace: 'n',
    topic: '/tasks/start',
    event: packAny('containerd.events.TaskStart', { container_id: id }),
  });
  const timedExit = (id: string, seconds: number): Envelope => ({
    timestamp: seconds * 1000,
    namespace: 'n',
    topic: '/tasks/exit',
    event: packAny('containerd.events.TaskExit', { container_id: id, pid: 10, exit_status: 3, exited_at: { seconds, nanos: 5 } }),
  });

  it('replays from a seq, then goes live, with no gap and no duplicate while the journal is read', async () => {
    const x = open();
    for (let i = 0; i < 50; i++) x.forward(start(`a${i}`));
    const got: Array<{ seq?: number; replayed?: boolean }> = [];
    const sub = x.subscribeSince([], { seq: 11 }, (e) => void got.push({ seq: e.seq, replayed: e.replayed }));
    for (let i = 0; i < 5; i++) x.forward(start(`b${i}`)); // while the journal is being read
    await new Promise((r) => setTimeout(r, 100));
    x.forward(start('c'));
    sub.close();
    x.forward(start('after close'));
    expect(got.map((e) => e.seq)).toEqual(Array.from({ length: 46 }, (_, i) => 11 + i));
    expect(got.filter((e) => e.replayed).map((e) => e.seq)).toEqual(Array.from({ length: 40 }, (_, i) => 11 + i));
  });

  it('waits while the subscriber is full, holding new events back until the replay is done', async () => {
    const x = open();
    for (let i = 0; i < 5; i++) x.forward(start(`a${i}`));
    const got: string[] = [];
    const { promise: blocked, resolve: unblock } = Promise.withResolvers<void>();
    x.subscribeSince([], { seq: 1 }, (e) => {
      got.push(idOf(e));
      return got.length === 2 ? blocked : undefined;
    });
    await new Promise((r) => setTimeout(r, 50));
    x.forward(start('live'));
    expect(got).toEqual(['a0', 'a1']);
    unblock();
    await new Promise((r) => setTimeout(r, 50));
    expect(got).toEqual(['a0', 'a1', 'a2', 'a3', 'a4', 'live']);
  });

  it('replays by time and by filter, and refuses a seq beyond the next one', async () => {
    const x = open();
    x.forward(timedExit('old', 1000));
    x.forward(start('new'));
    const got: string[] = [];
    x.subscribeSince(['topic=="/tasks/start"'], { time: Date.now() - 60_000 }, (e) => void got.push(idOf(e)));
    const all: string[] = [];
    x.subscribeSince([], { time: 0 }, (e) => void all.push(idOf(e)));
    await new Promise((r) => setTimeout(r, 50));
    expect(got).toEqual(['new']);
    expect(all).toEqual(['old', 'new']);
    expect(() => x.subscribeSince([], { seq: 4 }, () => undefined)).toThrow(/beyond/);
    expect(() => x.subscribeSince(['topic=='], { seq: 1 }, () => undefined)).toThrow();
  });

  it('numbers on across a reopen and publishes an exit once, however often it is forwarded', async () => {
    const first = open();
    first.forward(start('s'));
    first.forward(timedExit('e', 1_700_000_000));
    first.forward(timedExit('e', 1_700_000_000));
    const second = open();
    expect(second.seq).toBe(3);
    const live: Envelope[] = [];
    second.subscribe([], (e) => live.push(e));
    second.forward(timedExit('e', 1_700_000_000)); // a berthd killed before marking it reported
    second.forward(timedExit('e', 1_700_000_001)); // another exit
    expect(live.map((e) => `${e.seq} ${idOf(e)}`)).toEqual(['3 e']);
  });
});
