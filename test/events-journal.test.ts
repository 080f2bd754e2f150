import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope__Output as Envelope } from '../api/gen/berth/services/events/v1/Envelope.ts';
import type { EventsClient as BerthEventsClient } from '../api/gen/berth/services/events/v1/Events.ts';
import type { SubscribeRequest } from '../api/gen/berth/services/events/v1/SubscribeRequest.ts';
import { BerthEvents, Events } from '../api/services.ts';
import { toTimestamp } from '../api/timestamp.ts';
import { packAny } from '../core/any.ts';
import type { BerthClient } from '../transport/client.ts';
import { grpcClient, metadata } from './support/grpc-js.ts';
import { type Berthd, berthBin, berthdWithRunImage, startBerthd } from './support/harness.ts';
import { errorCode, sleep } from './support/util.ts';

/** A line of `berth events --format json`. */
interface EventLine {
  seq: number;
  timestamp: string;
  namespace: string;
  topic: string;
  event: { container_id?: string; exit_status?: number; pid?: number };
}

/**
 * Runs `berth events --format json` with `args` until `done` holds for what it printed, then a
 * second more (to see anything that should not come), and interrupts it.
 */
async function berthEvents(b: Berthd, args: string[], done: (lines: EventLine[]) => boolean): Promise<EventLine[]> {
  const child: ChildProcess = spawn(berthBin, ['--address', b.address, 'events', '--format', 'json', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const lines = () =>
    stdout
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as EventLine);
  try {
    for (let i = 0; i < 200 && !done(lines()) && child.exitCode === null; i++) await sleep(50);
    expect(done(lines()), `berth events ${args.join(' ')}: ${stdout}${stderr}`).toBe(true);
    await sleep(1000);
    return lines();
  } finally {
    child.kill('SIGINT');
    await exited;
  }
}

/** The first `n` envelopes (or fewer if the stream ends) of a berth Subscribe. */
async function firstEnvelopes(c: BerthClient, request: SubscribeRequest, n: number): Promise<Envelope[]> {
  const got: Envelope[] = [];
  let call: { cancel(): void } | undefined;
  for await (const e of c.service(BerthEvents).Subscribe(request, { deadline: false, onCall: (x) => (call = x) })) {
    got.push(e as Envelope);
    if (got.length >= n) break;
  }
  call?.cancel();
  return got;
}

const exitsOf = (lines: EventLine[], id: string) => lines.filter((l) => l.topic === '/tasks/exit' && l.event.container_id === id);

describe('the event journal across a berthd outage', () => {
  let b: Berthd;
  let image: string;
  const ns = 'journal';
  const berth = (args: string[]) => b.berth(['-n', ns, ...args]);
  berthdWithRunImage(ns, (d, img) => {
    b = d;
    image = img;
  });

  it('berth events --since replays what happened before a SIGKILL, and an exit during the outage once, with its status', async () => {
    const before = new Date(Date.now() - 1000).toISOString();
    await b
      .client(ns)
      .service(Events)
      .Publish({ topic: '/journal/marker', event: packAny('containerd.events.TaskOOM', { container_id: 'marker' }) });
    expect(berth(['run', '-d', '--null-io', image, 'stayer', 'sleep', '1000']).code).toBe(0);
    expect(berth(['run', '-d', '--null-io', image, 'quitter', 'sh', '-c', 'sleep 2; exit 7']).code).toBe(0);
    const bundle = join(b.state, 'io.containerd.runtime.v2.task', ns, 'quitter');
    const init = Number(readFileSync(join(bundle, 'pid'), 'utf8'));
    await b.kill();
    for (let i = 0; i < 100 && existsSync(`/proc/${init}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${init}/status`, 'utf8')); i++) await sleep(50);
    await sleep(1000); // berthd stays down a while after the exit
    await b.restart();

    const filter = `namespace==${ns}`;
    const seen = await berthEvents(b, ['--since', before, filter], (lines) => exitsOf(lines, 'quitter').length > 0);
    const topics = seen.map((l) => `${l.topic} ${l.event.container_id}`);
    expect(topics).toContain('/journal/marker marker');
    for (const id of ['stayer', 'quitter']) for (const t of ['/tasks/create', '/tasks/start']) expect(topics).toContain(`${t} ${id}`);
    expect(exitsOf(seen, 'quitter')).toEqual([expect.objectContaining({ event: expect.objectContaining({ exit_status: 7, pid: init }) })]);
    expect(exitsOf(seen, 'stayer')).toEqual([]);
    expect(topics.indexOf('/journal/marker marker')).toBeLessThan(topics.indexOf('/tasks/exit quitter'));
    const seqs = seen.map((l) => l.seq);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    expect(new Set(seqs).size).toBe(seqs.length);

    // from a seq: the exit first; with a duration: the same events as by time
    const exitSeq = exitsOf(seen, 'quitter')[0].seq;
    const fromSeq = await berthEvents(b, ['--since', String(exitSeq), filter], (lines) => lines.length > 0);
    expect(fromSeq[0]).toMatchObject({ seq: exitSeq, topic: '/tasks/exit', event: { container_id: 'quitter', exit_status: 7 } });
    const byDuration = await berthEvents(b, ['--since', '10m', filter], (lines) => exitsOf(lines, 'quitter').length > 0);
    expect(byDuration.map((l) => l.seq).slice(-seqs.length)).toEqual(seqs); // and the namespace's creation before

    // berthd killed again after forgetting that it reported the exit (as if killed between
    // publishing it and marking it): the exit is still in the journal once
    unlinkSync(join(bundle, 'exit.reported'));
    await b.kill();
    await b.restart();
    const again = await berthEvents(b, ['--since', before, filter], (lines) => lines.length >= seen.length);
    expect(exitsOf(again, 'quitter').map((l) => l.seq)).toEqual([exitSeq]);

    // and events go on being numbered after those of the berthd before
    await b
      .client(ns)
      .service(Events)
      .Publish({ topic: '/journal/after', event: packAny('containerd.events.TaskOOM', { container_id: 'after' }) });
    const after = await berthEvents(b, ['--since', String(exitSeq), 'topic=="/journal/after"'], (lines) => lines.length > 0);
    expect(after).toEqual([expect.objectContaining({ topic: '/journal/after' })]);
    expect(after[0].seq).toBeGreaterThan(Math.max(...seqs));

    for (const id of ['quitter', 'stayer']) {
      berth(['tasks', 'kill', '-s', 'SIGKILL', id]);
      berth(['tasks', 'rm', '-f', id]);
      berth(['containers', 'rm', id]);
    }
  }, 90_000);
});

describe('the event journal: bound, damage, arguments', () => {
  const maxBytes = 2 * 1024 * 1024; // some 15,000 of the flood's events: more than a subscriber's queue (10,000)
  let dir: string;
  let b: Berthd;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-journal-'));
    const config = join(dir, 'config.toml');
    writeFileSync(config, `version = 2\n[plugins."io.containerd.event.v1.exchange"]\njournal_max_bytes = ${maxBytes}\n`);
    b = await startBerthd(['--config', config]);
    flood = b.client('flood');
    c = b.client();
  });
  afterAll(async () => {
    await b?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const journalDir = () => join(b.root, 'events');
  const journalBytes = () => readdirSync(journalDir()).reduce((n, f) => n + statSync(join(journalDir(), f)).size, 0);
  let flood: BerthClient;
  let c: BerthClient;
  const publish = (i: number) =>
    flood.service(Events).Publish({ topic: '/flood/event', event: packAny('containerd.events.TaskOOM', { container_id: `c${i}` }) });

  it('stays within journal_max_bytes under a flood of 20,000 events, keeping the newest, and replays them all', async () => {
    for (let i = 0; i < 20_000; i += 200) await Promise.all(Array.from({ length: 200 }, (_, j) => publish(i + j)));
    expect(journalBytes()).toBeLessThanOrEqual(maxBytes);
    const latest = await firstEnvelopes(c, { since_seq: 1, filters: ['topic=="/flood/event"'] }, 1);
    expect(latest[0].replayed).toBe(true);
    expect(Number(latest[0].seq)).toBeGreaterThan(1); // the oldest are gone
    const kept = 20_000 - (Number(latest[0].seq) - 1);
    expect(kept).toBeGreaterThan(10_000);
    // replayed at the pace the client reads, not cut off as a subscriber too slow
    const all = await firstEnvelopes(c, { since_seq: 1, filters: ['topic=="/flood/event"'] }, kept);
    expect(all.map((e) => Number(e.seq))).toEqual(Array.from({ length: kept }, (_, i) => Number(latest[0].seq) + i));
  }, 120_000);

  it('replays to a client that does not read for a while, at its pace, without cutting it off', async () => {
    const filters = ['topic=="/flood/event"'];
    const [oldest] = await firstEnvelopes(c, { since_seq: 1, filters }, 1);
    const call: grpc.ClientReadableStream<Envelope> = grpcClient<BerthEventsClient>(c, BerthEvents).Subscribe(
      { since_seq: Number(oldest.seq), filters },
      metadata(c),
    );
    const seqs: number[] = [];
    let failed: grpc.ServiceError | undefined;
    call.on('error', (err: grpc.ServiceError) => (failed = err));
    call.pause();
    call.on('data', (e: Envelope) => seqs.push(Number(e.seq)));
    try {
      await sleep(2000); // berthd's stream to it is full long before the replay is done
      call.resume();
      for (let i = 0; i < 200 && !failed && seqs.length < 10_001; i++) await sleep(50);
      expect(failed?.details).toBeUndefined();
      expect(seqs.slice(0, 10_001)).toEqual(Array.from({ length: 10_001 }, (_, i) => Number(oldest.seq) + i));
    } finally {
      call.cancel();
    }
  }, 60_000);

  it('drops a torn tail of the journal on restart and goes on', async () => {
    await publish(-1);
    const [last] = await firstEnvelopes(c, { since: toTimestamp(Date.now() - 60_000), filters: ['event.container_id=="c-1"'] }, 1);
    await b.kill();
    const newest = readdirSync(journalDir()).sort().at(-1)!;
    appendFileSync(join(journalDir(), newest), Buffer.from([0x40, 0, 0, 0, 1, 2, 3, 4, 0x7b, 0x22])); // half a record
    await b.restart();
    expect(b.output()).toContain('dropped a damaged record');
    await publish(-2);
    const got = await firstEnvelopes(c, { since_seq: Number(last.seq), filters: ['topic=="/flood/event"'] }, 2);
    expect(got.map((e) => [Number(e.seq), e.replayed])).toEqual([
      [Number(last.seq), true],
      [Number(last.seq) + 1, true],
    ]);
  }, 60_000);

  it('refuses bad arguments with InvalidArgument', async () => {
    const first = (request: SubscribeRequest) => firstEnvelopes(c, request, 1);
    expect(await errorCode(first({ since_seq: 1, since: toTimestamp(Date.now()) }))).toBe('InvalidArgument');
    expect(await errorCode(first({ since_seq: 1e12 }))).toBe('InvalidArgument');
    expect(await errorCode(first({ since_seq: 1, filters: ['topic=='] }))).toBe('InvalidArgument');
    expect(await errorCode(first({ since: { seconds: 1, nanos: 2e9 } }))).toBe('InvalidArgument');
    const cli = b.berth(['events', '--since', 'yesterday']);
    expect(cli.code).not.toBe(0);
    expect(cli.stderr).toMatch(/RFC 3339/);
  });
});
