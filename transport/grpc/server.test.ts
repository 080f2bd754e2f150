import { mkdtempSync, rmSync } from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BerthError } from '../../core/errors.ts';
import { rawMethod } from '../../test/support/util.ts';
import { serverStream } from './handlers.ts';
import { GrpcServer } from './server.ts';

// Driven by grpc-js's client (and berthd's whole suite, and ctr's Go client in test/ctr-*.test.ts):
// raw-bytes codecs, so each case is about the protocol, not protobuf.
const method = rawMethod;
const def = {
  Echo: method('Echo', false, false),
  Fail: method('Fail', false, false),
  Throw: method('Throw', false, false),
  Hang: method('Hang', false, false),
  Count: method('Count', false, true),
  Follow: method('Follow', false, true),
  Flood: method('Flood', false, true),
  Upper: method('Upper', true, true),
  Sum: method('Sum', true, false),
};
const Client = grpc.makeGenericClientConstructor(def as unknown as grpc.ServiceDefinition, 'T');
type Any = (...args: unknown[]) => unknown;

describe('GrpcServer, called by grpc-js clients over a unix socket', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-grpc-server-'));
  const socket = join(dir, 's.sock');
  const server = new GrpcServer({ maxMessageSize: 1 << 20 });
  const seen = { cancelled: 0, closed: 0, hangCancelled: 0, floodEnded: 0 };
  let client: grpc.Client & Record<string, Any>;

  beforeAll(async () => {
    server.addService(def as unknown as grpc.ServiceDefinition, {
      Echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
        cb(null, Buffer.from(`${call.request.toString()}|${String(call.metadata.get('containerd-namespace')[0] ?? '')}`)),
      Fail: (_call: unknown, cb: grpc.sendUnaryData<Buffer>) =>
        cb({ code: grpc.status.FAILED_PRECONDITION, details: 'task is not running: 50% done\nsecond line' }),
      Throw: () => {
        throw new BerthError('NotFound', 'container "c1"');
      },
      Hang: (call: grpc.ServerUnaryCall<Buffer, Buffer>) => call.on('cancelled', () => seen.hangCancelled++),
      Count: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
        const n = Number(call.request.toString());
        let i = 0;
        // back-pressure as the services do it: wait for 'drain' when write says so
        const pump = () => {
          while (i < n) if (!call.write(Buffer.alloc(64 << 10, i++ % 256))) return void call.once('drain', pump);
          call.end();
        };
        pump();
      },
      Follow: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
        call.write(Buffer.from('first'));
        call.on('cancelled', () => seen.cancelled++);
        call.on('close', () => seen.closed++);
      },
      // a generator that never runs out, blocked on back-pressure when its client goes away
      Flood: serverStream(async function* () {
        try {
          for (;;) yield Buffer.alloc(256 << 10);
        } finally {
          seen.floodEnded++;
        }
      }),
      Upper: async (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        for await (const m of call as AsyncIterable<Buffer>) {
          if (m.toString() === 'boom') return void call.emit('error', { code: grpc.status.OUT_OF_RANGE, details: 'boom' });
          call.write(Buffer.from(m.toString().toUpperCase()));
        }
        call.end();
      },
      Sum: (call: grpc.ServerReadableStream<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        let total = 0;
        call.on('data', (m: Buffer) => (total += m.length));
        call.on('end', () => cb(null, Buffer.from(String(total))));
      },
    });
    await server.listen(socket);
    client = new Client(`unix:${socket}`, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': 64 << 20 }) as unknown as grpc.Client &
      Record<string, Any>;
  });
  afterAll(async () => {
    client.close();
    server.forceShutdown();
    rmSync(dir, { recursive: true, force: true });
  });

  const unary = (name: string, req: Buffer, md = new grpc.Metadata(), opts: grpc.CallOptions = {}) =>
    new Promise<Buffer>((resolve, reject) => client[name]!(req, md, opts, (err: grpc.ServiceError | null, res: Buffer) => (err ? reject(err) : resolve(res))));
  const collect = (call: grpc.ClientReadableStream<Buffer>) =>
    new Promise<Buffer[]>((resolve, reject) => {
      const out: Buffer[] = [];
      call.on('data', (m: Buffer) => out.push(m));
      call.on('error', reject);
      call.on('end', () => resolve(out));
    });

  it('answers a unary call with the request and its metadata', async () => {
    const md = new grpc.Metadata();
    md.set('containerd-namespace', 'team-a');
    expect((await unary('Echo', Buffer.from('hi'), md)).toString()).toBe('hi|team-a');
    expect((await unary('Echo', Buffer.alloc(0))).toString()).toBe('|');
  });

  it("sends a handler's status, and a thrown BerthError as its gRPC code, with the message intact", async () => {
    await expect(unary('Fail', Buffer.alloc(0))).rejects.toMatchObject({
      code: grpc.status.FAILED_PRECONDITION,
      details: 'task is not running: 50% done\nsecond line',
    });
    await expect(unary('Throw', Buffer.alloc(0))).rejects.toMatchObject({ code: grpc.status.NOT_FOUND, details: 'container "c1": not found' });
  });

  it('answers an unknown method with Unimplemented and an oversized request with ResourceExhausted', async () => {
    const Other = grpc.makeGenericClientConstructor({ Nope: { ...def.Echo, path: '/t.T/Nope' } } as unknown as grpc.ServiceDefinition, 'T');
    const other = new Other(`unix:${socket}`, grpc.credentials.createInsecure()) as unknown as Record<string, Any> & grpc.Client;
    try {
      await expect(
        new Promise((resolve, reject) => other.Nope!(Buffer.alloc(0), (err: unknown, r: unknown) => (err ? reject(err) : resolve(r)))),
      ).rejects.toMatchObject({ code: grpc.status.UNIMPLEMENTED });
    } finally {
      other.close();
    }
    await expect(unary('Echo', Buffer.alloc((1 << 20) + 1))).rejects.toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED });
    expect((await unary('Echo', Buffer.from('still'))).toString()).toBe('still|');
  });

  it('streams 64 MiB with back-pressure, every message in order', async () => {
    const got = await collect(client.Count!(Buffer.from('1024')) as grpc.ClientReadableStream<Buffer>);
    expect(got).toHaveLength(1024);
    expect(got.every((m, i) => m.length === 64 << 10 && m[0] === i % 256 && m[m.length - 1] === i % 256)).toBe(true);
  });

  it("passes a request stream to the handler in order, and ends it with the handler's status", async () => {
    const call = client.Upper!() as grpc.ClientDuplexStream<Buffer, Buffer>;
    const got = collect(call);
    for (const w of ['a', 'bc', '', 'def']) call.write(Buffer.from(w));
    call.end();
    expect((await got).map(String)).toEqual(['A', 'BC', '', 'DEF']);
    const failing = client.Upper!() as grpc.ClientDuplexStream<Buffer, Buffer>;
    const outcome = collect(failing);
    failing.write(Buffer.from('x'));
    failing.write(Buffer.from('boom'));
    await expect(outcome).rejects.toMatchObject({ code: grpc.status.OUT_OF_RANGE, details: 'boom' });
    const sum = new Promise<Buffer>((resolve, reject) => {
      const c = client.Sum!((err: grpc.ServiceError | null, r: Buffer) => (err ? reject(err) : resolve(r))) as grpc.ClientWritableStream<Buffer>;
      for (let i = 0; i < 100; i++) c.write(Buffer.alloc(1000));
      c.end();
    });
    expect((await sum).toString()).toBe('100000');
  });

  it('tells the handler when the client cancels, and ends a call at its deadline', async () => {
    const call = client.Follow!(Buffer.alloc(0)) as grpc.ClientReadableStream<Buffer>;
    await new Promise((resolve) => call.once('data', resolve));
    call.on('error', () => undefined);
    call.cancel();
    await expect.poll(() => [seen.cancelled, seen.closed]).toEqual([1, 1]);

    // the server keeps the deadline itself: this client sends grpc-timeout and waits
    const session = http2.connect('http://localhost', { createConnection: () => net.connect(socket) });
    try {
      const t0 = Date.now();
      const req = session.request({ ':method': 'POST', ':path': '/t.T/Hang', 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': '300m' });
      req.end(Buffer.from([0, 0, 0, 0, 0]));
      const headers = await new Promise<http2.IncomingHttpHeaders>((resolve) => req.on('response', resolve));
      expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
      expect(headers['grpc-status']).toBe(String(grpc.status.DEADLINE_EXCEEDED));
      expect(seen.hangCancelled).toBe(1);
    } finally {
      session.close();
    }
  });

  it('ends a stream handler waiting for back-pressure when its client cancels', async () => {
    const call = client.Flood!(Buffer.alloc(0)) as grpc.ClientReadableStream<Buffer>;
    call.on('error', () => undefined);
    await new Promise((resolve) => call.once('data', resolve));
    call.pause();
    // long enough for the server to fill the flow-control windows and wait for 'drain'
    await new Promise((r) => setTimeout(r, 300));
    expect(seen.floodEnded).toBe(0);
    call.cancel();
    await expect.poll(() => seen.floodEnded).toBe(1);
  });

  it('shuts down once the running calls end, refusing new connections meanwhile', async () => {
    const late = new GrpcServer({ maxMessageSize: 1 << 20 });
    const path = join(dir, 'late.sock');
    let finish!: () => void;
    late.addService({ Echo: def.Echo } as unknown as grpc.ServiceDefinition, {
      Echo: (_call: unknown, cb: grpc.sendUnaryData<Buffer>) => (finish = () => cb(null, Buffer.from('done'))),
    });
    await late.listen(path);
    const c = new Client(`unix:${path}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & Record<string, Any>;
    try {
      const running = new Promise<Buffer>((resolve, reject) =>
        c.Echo!(Buffer.alloc(0), (err: grpc.ServiceError | null, r: Buffer) => (err ? reject(err) : resolve(r))),
      );
      await expect.poll(() => finish).toBeTypeOf('function');
      let stopped = false;
      const stopping = late.shutdown().then(() => (stopped = true));
      await new Promise((r) => setTimeout(r, 100));
      expect(stopped).toBe(false);
      finish();
      expect((await running).toString()).toBe('done');
      await stopping;
    } finally {
      c.close();
      late.forceShutdown();
    }
  });
});
