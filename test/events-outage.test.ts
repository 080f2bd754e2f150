import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import type { Envelope__Output as Envelope } from '../api/gen/containerd/services/events/v1/Envelope.ts';
import { unpackAny } from '../core/any.ts';
import { grpcEvents, metadata } from './support/grpc-js.ts';
import { type Berthd, berthdWithRunImage } from './support/harness.ts';
import { sleep } from './support/util.ts';

/**
 * A client that embeds berthd (dockerd) learns that a container ended from its /tasks/exit
 * event. One that ends while berthd is down must still reach the client that subscribes once
 * berthd is back, once, with its real status.
 */
describe('exit events across a berthd outage', () => {
  let b: Berthd;
  let image: string;
  const ns = 'outage';
  const berth = (args: string[]) => b.berth(['-n', ns, ...args]);
  berthdWithRunImage(ns, (d, img) => {
    b = d;
    image = img;
  });

  const subscribe = (filters: string[]) => {
    const c = b.client(ns);
    const got: Envelope[] = [];
    const call: grpc.ClientReadableStream<Envelope> = grpcEvents(c).Subscribe({ filters }, metadata(c));
    call.on('data', (e: Envelope) => got.push(e));
    call.on('error', () => undefined);
    return { got, stop: () => call.cancel() };
  };
  const exits = (got: Envelope[], id: string) =>
    got.map((e) => unpackAny(e.event!).message as { container_id: string; exit_status: number; pid: number }).filter((m) => m.container_id === id);

  it('a subscriber connected after the restart gets the /tasks/exit of a container that exited meanwhile, once, with its status', async () => {
    expect(berth(['run', '-d', '--null-io', image, 'stayer', 'sleep', '1000']).code).toBe(0);
    expect(berth(['run', '-d', '--null-io', image, 'quitter', 'sh', '-c', 'sleep 2; exit 7']).code).toBe(0);
    const bundle = join(b.state, 'io.containerd.runtime.v2.task', ns, 'quitter');
    const init = Number(readFileSync(join(bundle, 'pid'), 'utf8'));
    await b.kill();
    for (let i = 0; i < 100 && existsSync(`/proc/${init}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${init}/status`, 'utf8')); i++) await sleep(50);
    expect(existsSync(`/proc/${init}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${init}/status`, 'utf8'))).toBe(false);
    await b.restart();

    const first = subscribe(['topic=="/tasks/exit"']);
    await sleep(1500);
    const second = subscribe(['topic=="/tasks/exit"']);
    await sleep(500);
    first.stop();
    second.stop();
    for (const s of [first, second]) {
      expect(exits(s.got, 'quitter')).toEqual([expect.objectContaining({ container_id: 'quitter', exit_status: 7, pid: init })]);
      expect(exits(s.got, 'stayer')).toEqual([]);
      expect(s.got.every((e) => e.namespace === ns)).toBe(true);
    }
    expect(berth(['tasks', 'ls']).stdout).toMatch(/^quitter\s+\d+\s+STOPPED$/m);
    expect(berth(['tasks', 'ls']).stdout).toMatch(/^stayer\s+\d+\s+RUNNING$/m);
    for (const id of ['quitter', 'stayer']) {
      berth(['tasks', 'kill', '-s', 'SIGKILL', id]);
      berth(['tasks', 'rm', '-f', id]);
      berth(['containers', 'rm', id]);
    }
  }, 60_000);
});
