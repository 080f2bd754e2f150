import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawMethod } from '../../test/support/util.ts';
import { Channel } from './channel.ts';

// The peer is a real gRPC server (grpc-js) with raw-bytes codecs, so every status, trailer and
// framing case below is what a gRPC server actually sends.
const service = {
  Echo: rawMethod('Echo'),
  Fail: rawMethod('Fail'),
  Hang: rawMethod('Hang'),
  Big: rawMethod('Big'),
  Three: rawMethod('Three', false, true),
  Chat: rawMethod('Chat', true, true),
  Flood: rawMethod('Flood', false, true),
};
const raws = { path: '', requestSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b };

describe('Channel against a gRPC server on a unix socket', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-unary-'));
  const socket = join(dir, 'grpc.sock');
  const server = new grpc.Server({ 'grpc.max_send_message_length': 64 << 20 });
  let hung = 0;
  let flooding = false;
  const call = (
    ch: Channel,
    name: keyof typeof service,
    body: Buffer,
    opts: { deadline?: number; signal?: AbortSignal; headers?: Record<string, string> } = {},
  ) => ch.call(service[name].path, body, { maxMessageSize: 16 << 20, ...opts });

  beforeAll(async () => {
    server.addService(service as unknown as grpc.ServiceDefinition, {
      Echo: (c: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
        cb(null, Buffer.concat([c.request, Buffer.from(` ns=${c.metadata.get('containerd-namespace')[0] ?? ''}`)])),
      Fail: (_c: unknown, cb: grpc.sendUnaryData<Buffer>) => cb({ code: grpc.status.NOT_FOUND, details: 'image "x": not found ✓ 100%' }),
      Hang: (c: grpc.ServerUnaryCall<Buffer, Buffer>) => {
        hung++;
        c.on('cancelled', () => hung--);
      },
      Big: (_c: unknown, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.alloc((16 << 20) + 1)),
      Chat: (c: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        c.on('data', (m: Buffer) => c.write(Buffer.from(m.toString().toUpperCase())));
        c.on('end', () => c.end());
      },
      // 200 messages of 64 KiB, as fast as the client takes them (write's back-pressure)
      Flood: async (c: grpc.ServerWritableStream<Buffer, Buffer>) => {
        flooding = true;
        c.on('cancelled', () => (flooding = false));
        for (let i = 0; i < 200 && flooding; i++) {
          if (!c.write(Buffer.alloc(64 << 10, i))) await new Promise((r) => c.once('drain', r));
        }
        if (flooding) c.end();
        flooding = false;
      },
      Three: (c: grpc.ServerWritableStream<Buffer, Buffer>) => {
        for (const s of ['a', '', 'ccc']) c.write(Buffer.from(s));
        c.end();
      },
    });
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(`unix:${socket}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
    );
  });
  afterAll(() => {
    server.forceShutdown();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends the message and headers and returns the one response message', async () => {
    const ch = new Channel(socket);
    try {
      expect((await call(ch, 'Echo', Buffer.from('hello'), { headers: { 'containerd-namespace': 'team-a' } })).map(String)).toEqual(['hello ns=team-a']);
      // an empty message is a message too
      expect((await call(ch, 'Echo', Buffer.alloc(0))).map(String)).toEqual([' ns=']);
    } finally {
      ch.close();
    }
  });

  it('returns every message of a server stream, empty ones included', async () => {
    const ch = new Channel(socket);
    try {
      expect((await call(ch, 'Three', Buffer.alloc(0))).map(String)).toEqual(['a', '', 'ccc']);
    } finally {
      ch.close();
    }
  });

  it('streams both ways: request messages as they are written, answers as they come', async () => {
    const ch = new Channel(socket);
    try {
      const call = ch.open({ ...raws, path: service.Chat.path }, { maxMessageSize: 1 << 20 });
      const got: string[] = [];
      const done = new Promise((resolve) => (call.onDone = resolve));
      call.onMessage = (m) => {
        got.push(m.toString());
        // each answer prompts the next request
        if (got.length < 3) call.write(Buffer.from(`msg ${got.length}`));
        else call.end();
      };
      call.write(Buffer.from('msg 0'));
      expect(await done).toBeUndefined();
      expect(got).toEqual(['MSG 0', 'MSG 1', 'MSG 2']);
    } finally {
      ch.close();
    }
  });

  it('holds a server stream back while paused, and cancels it half-way', async () => {
    const ch = new Channel(socket);
    try {
      const call = ch.open({ ...raws, path: service.Flood.path }, { maxMessageSize: 1 << 20 });
      const sizes: number[] = [];
      const done = new Promise((resolve) => (call.onDone = resolve));
      call.onMessage = (m) => {
        sizes.push(m[0]!);
        if (sizes.length % 50 === 0) {
          call.pause();
          setTimeout(() => call.resume(), 50);
        }
      };
      call.write(Buffer.alloc(0));
      call.end();
      expect(await done).toBeUndefined();
      expect(sizes).toEqual(Array.from({ length: 200 }, (_, i) => i % 256));

      const cancelled = ch.open({ ...raws, path: service.Flood.path }, { maxMessageSize: 1 << 20 });
      let n = 0;
      const over = new Promise((resolve) => (cancelled.onDone = resolve));
      cancelled.onMessage = () => {
        if (++n === 10) cancelled.cancel();
      };
      cancelled.write(Buffer.alloc(0));
      cancelled.end();
      expect(await over).toMatchObject({ code: 'Canceled' });
      expect(n).toBe(10);
      await expect.poll(() => flooding).toBe(false);
    } finally {
      ch.close();
    }
  });

  it('turns a gRPC status into a BerthError with the decoded message', async () => {
    const ch = new Channel(socket);
    try {
      await expect(call(ch, 'Fail', Buffer.alloc(0))).rejects.toMatchObject({ name: 'BerthError', code: 'NotFound', message: 'image "x": not found ✓ 100%' });
    } finally {
      ch.close();
    }
  });

  it('refuses a response message over the size limit', async () => {
    const ch = new Channel(socket);
    try {
      await expect(call(ch, 'Big', Buffer.alloc(0))).rejects.toMatchObject({ code: 'ResourceExhausted' });
      // the connection stays usable
      expect((await call(ch, 'Echo', Buffer.from('after'))).map(String)).toEqual(['after ns=']);
    } finally {
      ch.close();
    }
  });

  it('gives up at the deadline and on abort, and the server sees the call cancelled', async () => {
    const ch = new Channel(socket);
    try {
      const t0 = Date.now();
      await expect(call(ch, 'Hang', Buffer.alloc(0), { deadline: Date.now() + 200 })).rejects.toMatchObject({ code: 'DeadlineExceeded' });
      expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
      const abort = new AbortController();
      const pending = call(ch, 'Hang', Buffer.alloc(0), { signal: abort.signal });
      setTimeout(() => abort.abort(), 50);
      await expect(pending).rejects.toMatchObject({ code: 'Canceled' });
      await expect.poll(() => hung).toBe(0);
    } finally {
      ch.close();
    }
  });

  it('reports a missing socket as Unavailable, then connects once the server is there', async () => {
    const ch = new Channel(join(dir, 'absent.sock'));
    try {
      await expect(call(ch, 'Echo', Buffer.alloc(0))).rejects.toMatchObject({
        code: 'Unavailable',
        message: expect.stringMatching(/No connection established.*ENOENT/),
      });
    } finally {
      ch.close();
    }
    const late = join(dir, 'late.sock');
    const ch2 = new Channel(late);
    const server2 = new grpc.Server();
    try {
      await expect(call(ch2, 'Echo', Buffer.alloc(0))).rejects.toMatchObject({ code: 'Unavailable' });
      server2.addService(service as unknown as grpc.ServiceDefinition, {
        Echo: (c: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, c.request),
      });
      await new Promise<void>((resolve, reject) =>
        server2.bindAsync(`unix:${late}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
      );
      expect((await call(ch2, 'Echo', Buffer.from('now'))).map(String)).toEqual(['now']);
    } finally {
      ch2.close();
      server2.forceShutdown();
    }
  });
});
