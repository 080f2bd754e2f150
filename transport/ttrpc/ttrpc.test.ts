import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lstatSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { codec } from '../../api/codec.ts';
import type { Request__Output } from '../../api/gen/ttrpc/Request.ts';
import { TaskV2 } from '../../api/services.ts';
import { BerthError, notFound } from '../../core/errors.ts';
import type { Client } from '../typed.ts';
import { TtrpcChannel, ttrpcClient } from './client.ts';
import { decodeRequest, decodeResponse, encodeRequest, encodeResponse } from './envelope.ts';
import { encodeFrame, FrameReader, FrameType, headerSize, maxDataSize } from './frames.ts';
import { TtrpcServer } from './server.ts';

const taskPayload = (name: string, value: object) => {
  const type = codec(name);
  return Buffer.from(type.encode(type.fromObject(value)).finish());
};

/** A raw connection to a server: writes bytes, reads back the responses by stream id. */
async function rawConnection(path: string) {
  const socket = net.createConnection({ path });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const reader = new FrameReader();
  const responses = new Map<number, ReturnType<typeof decodeResponse>>();
  let wake: () => void = () => undefined;
  socket.on('data', (chunk: Buffer) => {
    for (const e of reader.push(chunk)) if (e.kind === 'frame') responses.set(e.frame.streamId, decodeResponse(e.frame.data));
    wake();
  });
  return {
    socket,
    write: (bytes: Buffer) => socket.write(bytes),
    request: (streamId: number, r: Parameters<typeof encodeRequest>[0]) => socket.write(encodeFrame(streamId, FrameType.Request, encodeRequest(r))),
    async response(streamId: number) {
      while (!responses.has(streamId)) await new Promise<void>((r) => (wake = r));
      return responses.get(streamId)!;
    },
  };
}

const oversizeHeader = (streamId: number, type: number) => {
  const h = Buffer.alloc(headerSize);
  h.writeUInt32BE(maxDataSize + 1, 0);
  h.writeUInt32BE(streamId, 4);
  h.writeUInt8(type, 8);
  return h;
};

describe('ttrpc client and server over a unix socket', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-ttrpc-'));
  const path = join(dir, 'ttrpc.sock');
  const server = new TtrpcServer();
  const aborted: string[] = [];
  const channels: TtrpcChannel[] = [];
  const connect = async () => {
    const ch = await TtrpcChannel.connect(`unix://${path}`);
    channels.push(ch);
    return ch;
  };

  beforeAll(async () => {
    server.register(TaskV2, {
      State: async (req, ctx) => ({ id: req.id, bundle: ctx.namespace, exec_id: ctx.metadata.get('x-extra')?.join(',') ?? '' }),
      // answers after `pid` ms: concurrent calls come back in another order than they went
      Start: async (req) => {
        await new Promise((r) => setTimeout(r, Number(req.exec_id)));
        return { pid: Number(req.exec_id) };
      },
      Kill: async (req) => {
        throw notFound(`process ${req.id}`);
      },
      Wait: (req, ctx) =>
        new Promise((_resolve, reject) =>
          ctx.signal.addEventListener('abort', () => {
            aborted.push(req.id);
            reject(ctx.signal.reason);
          }),
        ),
      Pids: async () => {
        throw new Error('something broke');
      },
      // not async: throws before there is a promise
      Stats: (() => {
        throw notFound('no stats');
      }) as () => Promise<object>,
    });
    await server.listen(path);
  });
  afterEach(() => {
    for (const ch of channels.splice(0)) ch.close();
  });
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('listens with mode 0600', () => {
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('calls a typed method: the request, the namespace and the response round trip', async () => {
    const tasks: Client<typeof TaskV2> = ttrpcClient(TaskV2, await connect(), { namespace: 'ns1' });
    expect(await tasks.State({ id: 'c1' })).toMatchObject({ id: 'c1', bundle: 'ns1', pid: 0, status: 'UNKNOWN' });
    expect(await tasks.State({ id: 'c2' }, { namespace: 'other' })).toMatchObject({ id: 'c2', bundle: 'other' });
  });

  it('answers concurrent calls each with its own response, whatever order they finish in', async () => {
    const tasks = ttrpcClient(TaskV2, await connect());
    const delays = Array.from({ length: 40 }, (_, i) => 200 - i * 5);
    const got = await Promise.all(delays.map((d) => tasks.Start({ id: 'c', exec_id: String(d) })));
    expect(got.map((r) => r.pid)).toEqual(delays);
  });

  it('turns a status into a BerthError with the gRPC code (errdefs suffix removed), Unknown for a plain error, also for a handler that throws at once', async () => {
    const tasks = ttrpcClient(TaskV2, await connect());
    const err = await tasks.Kill({ id: 'gone' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BerthError);
    expect(err).toMatchObject({ code: 'NotFound', message: 'process gone' });
    await expect(tasks.Pids({ id: 'x' })).rejects.toMatchObject({ code: 'Unknown', message: 'something broke' });
    await expect(tasks.Stats({ id: 'x' })).rejects.toMatchObject({ code: 'NotFound', message: 'no stats' });
    expect(await tasks.State({ id: 'after' })).toMatchObject({ id: 'after' });
  });

  it('answers an unregistered method or service with Unimplemented, and the connection goes on', async () => {
    const ch = await connect();
    await expect(ttrpcClient(TaskV2, ch).Pause({ id: 'x' })).rejects.toMatchObject({ code: 'Unimplemented', message: 'method Pause' });
    await expect(ch.call('no.such.Service', 'Foo', Buffer.alloc(0))).rejects.toMatchObject({ code: 'Unimplemented', message: 'service no.such.Service' });
    expect(await ttrpcClient(TaskV2, ch).State({ id: 'still' })).toMatchObject({ id: 'still' });
  });

  it('fails a call at its deadline on the client, and the server aborts the handler at timeout_nano', async () => {
    const tasks = ttrpcClient(TaskV2, await connect(), { timeoutMs: 5000 });
    const started = Date.now();
    await expect(tasks.Wait({ id: 'w1' }, { timeoutMs: 150 })).rejects.toMatchObject({ code: 'DeadlineExceeded' });
    expect(Date.now() - started).toBeLessThan(2000);
    await expect.poll(() => aborted).toContain('w1');
  });

  it('the server answers DEADLINE_EXCEEDED at timeout_nano even when the client does not give up', async () => {
    const raw = await rawConnection(path);
    raw.request(1, { service: TaskV2.name, method: 'Wait', payload: taskPayload('containerd.task.v2.WaitRequest', { id: 'w2' }), timeout_nano: 100e6 });
    expect((await raw.response(1)).status).toMatchObject({ code: 4 });
    expect(aborted).toContain('w2');
    raw.socket.destroy();
  });

  it('cancels a call by its signal', async () => {
    const tasks = ttrpcClient(TaskV2, await connect());
    const ac = new AbortController();
    const call = tasks.Wait({ id: 'w3' }, { signal: ac.signal });
    ac.abort();
    await expect(call).rejects.toMatchObject({ code: 'Canceled' });
  });

  it('puts odd stream ids, timeout_nano and lower-cased metadata on the wire', async () => {
    const seen: Array<{ streamId: number; request: Request__Output }> = [];
    const spy = net.createServer((s) => {
      const reader = new FrameReader();
      s.on('data', (chunk: Buffer) => {
        for (const e of reader.push(chunk)) {
          if (e.kind !== 'frame') continue;
          seen.push({ streamId: e.frame.streamId, request: decodeRequest(e.frame.data) });
          s.write(encodeFrame(e.frame.streamId, FrameType.Response, encodeResponse({ status: { code: 0 } })));
        }
      });
    });
    const spyPath = join(dir, 'spy.sock');
    await new Promise<void>((r) => spy.listen(spyPath, r));
    try {
      const ch = await TtrpcChannel.connect(spyPath);
      channels.push(ch);
      const tasks = ttrpcClient(TaskV2, ch, { namespace: 'ns1', timeoutMs: 2000 });
      await tasks.Shutdown({ id: 'a' });
      await tasks.Shutdown({ id: 'b' }, { deadline: false });
      await ch.call(TaskV2.name, 'Connect', Buffer.alloc(0), { metadata: [['X-Extra', 'v']] });
      expect(seen.map((s) => s.streamId)).toEqual([1, 3, 5]);
      expect(seen[0]!.request).toMatchObject({ service: 'containerd.task.v2.Task', method: 'Shutdown', timeout_nano: 2000e6 });
      expect(seen[0]!.request.metadata).toEqual([{ key: 'containerd-namespace-ttrpc', value: 'ns1' }]);
      expect(seen[1]!.request.timeout_nano).toBe(0);
      expect(seen[2]!.request.metadata).toEqual([{ key: 'x-extra', value: 'v' }]);
    } finally {
      for (const ch of channels.splice(0)) ch.close();
      await new Promise((r) => spy.close(r));
    }
  });

  it('answers an even stream id and a payload that is not protobuf with INVALID_ARGUMENT', async () => {
    const raw = await rawConnection(path);
    raw.request(2, { service: TaskV2.name, method: 'State', payload: taskPayload('containerd.task.v2.StateRequest', { id: 'x' }) });
    raw.write(encodeFrame(3, FrameType.Request, Buffer.from([0xff, 0xff, 0xff])));
    raw.request(5, { service: TaskV2.name, method: 'State', payload: Buffer.from([0x08]) }); // a varint field with no varint
    expect((await raw.response(2)).status?.code).toBe(3);
    expect((await raw.response(3)).status?.code).toBe(3);
    expect((await raw.response(5)).status?.code).toBe(3);
    raw.socket.destroy();
  });

  it('answers an oversize request RESOURCE_EXHAUSTED, ignores other frame types, and the connection survives', async () => {
    const raw = await rawConnection(path);
    raw.write(oversizeHeader(1, FrameType.Request));
    for (let left = maxDataSize + 1; left > 0; left -= 1 << 20) raw.write(Buffer.alloc(Math.min(left, 1 << 20), 0xab));
    raw.write(encodeFrame(3, FrameType.Data, Buffer.from('streaming is 1.2')));
    raw.write(encodeFrame(5, 0x7f, Buffer.from('no such type')));
    raw.request(7, { service: TaskV2.name, method: 'State', payload: taskPayload('containerd.task.v2.StateRequest', { id: 'after' }) });
    expect((await raw.response(1)).status?.code).toBe(8);
    const after = await raw.response(7);
    expect(after.status?.code).toBe(0);
    expect(codec('containerd.task.v2.StateResponse').decode(after.payload)).toMatchObject({ id: 'after' });
    raw.socket.destroy();
  });

  it('survives random bytes on one connection, holding little, while another is served', async () => {
    const raw = await rawConnection(path);
    const other = ttrpcClient(TaskV2, await connect());
    let peak = 0;
    for (let i = 0; i < 64; i++) {
      raw.write(randomBytes(64 * 1024));
      peak = Math.max(peak, server.heldBytes());
      expect(await other.State({ id: `still ${i}` })).toMatchObject({ id: `still ${i}` });
    }
    expect(peak).toBeLessThan(maxDataSize + (1 << 20));
    raw.socket.destroy();
  });

  it('a client fails a call whose response is oversize, and the others still complete', async () => {
    const evilPath = join(dir, 'evil.sock');
    const evil = net.createServer((s) => {
      const reader = new FrameReader();
      s.on('data', (chunk: Buffer) => {
        for (const e of reader.push(chunk)) {
          if (e.kind !== 'frame') continue;
          if (e.frame.streamId === 1) {
            s.write(oversizeHeader(1, FrameType.Response));
            s.write(Buffer.alloc(maxDataSize + 1));
          } else s.write(encodeFrame(e.frame.streamId, FrameType.Response, encodeResponse({ status: { code: 0 } })));
        }
      });
    });
    await new Promise<void>((r) => evil.listen(evilPath, r));
    try {
      const ch = await TtrpcChannel.connect(evilPath);
      channels.push(ch);
      const first = ch.call('s', 'm', Buffer.alloc(0));
      const second = ch.call('s', 'm', Buffer.alloc(0));
      await expect(first).rejects.toMatchObject({ code: 'ResourceExhausted' });
      expect(await second).toEqual(Buffer.alloc(0));
    } finally {
      for (const ch of channels.splice(0)) ch.close();
      await new Promise((r) => evil.close(r));
    }
  });

  it('refuses a request over 4 MiB before sending it', async () => {
    const ch = await connect();
    await expect(ch.call('s', 'm', Buffer.alloc(maxDataSize + 1))).rejects.toMatchObject({ code: 'ResourceExhausted' });
    expect(await ttrpcClient(TaskV2, ch).State({ id: 'ok' })).toMatchObject({ id: 'ok' });
  });

  it('fails every pending call with Unavailable when the connection drops, and every later one', async () => {
    const dropPath = join(dir, 'drop.sock');
    const dropper = new TtrpcServer().register(TaskV2, { Wait: () => new Promise(() => undefined) });
    await dropper.listen(dropPath);
    const ch = await TtrpcChannel.connect(dropPath);
    channels.push(ch);
    const closed = new Promise<void>((r) => (ch.onClose = () => r()));
    const tasks = ttrpcClient(TaskV2, ch);
    const pending = [tasks.Wait({ id: 'a' }), tasks.Wait({ id: 'b' })];
    await expect.poll(() => ch.inFlight).toBe(2);
    await dropper.close();
    for (const p of pending) await expect(p).rejects.toMatchObject({ code: 'Unavailable' });
    await closed;
    await expect(tasks.State({ id: 'later' })).rejects.toMatchObject({ code: 'Unavailable' });
  });

  it('runs at most maxCallsPerConnection handlers of a connection at once, and answers every call', async () => {
    const limitedPath = join(dir, 'limited.sock');
    let running = 0;
    let peak = 0;
    const limited = new TtrpcServer({ maxCallsPerConnection: 2 }).register(TaskV2, {
      Start: async (req) => {
        peak = Math.max(peak, ++running);
        await new Promise((r) => setTimeout(r, 20));
        running--;
        return { pid: Number(req.exec_id) };
      },
    });
    await limited.listen(limitedPath);
    try {
      const ch = await TtrpcChannel.connect(limitedPath);
      channels.push(ch);
      const tasks = ttrpcClient(TaskV2, ch);
      const got = await Promise.all(Array.from({ length: 10 }, (_, i) => tasks.Start({ id: 'c', exec_id: String(i) })));
      expect(got.map((r) => r.pid)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(peak).toBe(2);
    } finally {
      for (const ch of channels.splice(0)) ch.close();
      await limited.close();
    }
  });

  it('refuses to take over a live socket, and replaces a stale one', async () => {
    await expect(new TtrpcServer().listen(path)).rejects.toMatchObject({ code: 'AlreadyExists' });
    // a server killed before it could remove its socket: the file stays, nothing listens
    const stalePath = join(dir, 'stale.sock');
    const killed = spawnSync(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(stalePath)}, () => process.kill(process.pid, 'SIGKILL'))`,
    ]);
    expect(killed.signal).toBe('SIGKILL');
    expect(lstatSync(stalePath).isSocket()).toBe(true);
    const second = new TtrpcServer().register(TaskV2, { State: async () => ({ id: 'second' }) });
    await second.listen(stalePath);
    try {
      const ch = await TtrpcChannel.connect(stalePath);
      channels.push(ch);
      expect(await ttrpcClient(TaskV2, ch).State({})).toMatchObject({ id: 'second' });
    } finally {
      for (const ch of channels.splice(0)) ch.close();
      await second.close();
    }
  });

  it('fails to connect with Unavailable when nothing listens', async () => {
    await expect(TtrpcChannel.connect(join(dir, 'nothing.sock'))).rejects.toMatchObject({ code: 'Unavailable' });
  });

  it('holds bounded memory for a client that floods bad frames and never reads the answers', async () => {
    const floodPath = join(dir, 'flood.sock');
    const flooded = new TtrpcServer({ maxPendingWrite: 256 * 1024 }).register(TaskV2, {});
    await flooded.listen(floodPath);
    const socket = net.createConnection({ path: floodPath });
    await new Promise<void>((r) => socket.once('connect', r));
    socket.pause(); // never reads: every answer stays with the server or in the kernel
    try {
      // even stream ids, unknown services, oversize headers with their data: each one answered
      const bad = Buffer.concat([
        encodeFrame(2, FrameType.Request, Buffer.from('x')),
        encodeFrame(1, FrameType.Request, encodeRequest({ service: 'nope', method: 'x' })),
        encodeFrame(3, FrameType.Request, Buffer.from([0xff, 0xff])),
      ]);
      const batch = Buffer.concat(Array.from({ length: 2000 }, () => bad));
      let peak = 0;
      let written = 0;
      const deadline = Date.now() + 2000;
      while (Date.now() < deadline && written < 200 << 20) {
        if (socket.writableLength < 4 << 20) {
          socket.write(batch);
          written += batch.length;
        }
        await new Promise((r) => setTimeout(r, 1));
        peak = Math.max(peak, flooded.heldBytes());
      }
      // the server stopped reading long before the client stopped writing
      expect(socket.writableLength).toBeGreaterThan(0);
      expect(peak).toBeLessThan(2 << 20);
    } finally {
      socket.destroy();
      await flooded.close();
    }
  });
});
