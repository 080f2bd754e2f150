import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnaryChannel } from './unary-channel.ts';

// The peer is a real gRPC server (grpc-js) with raw-bytes codecs, so every status, trailer and
// framing case below is what a gRPC server actually sends.
const raw = { serialize: (b: Buffer) => b, deserialize: (b: Buffer) => b };
const method = (path: string, responseStream = false) => ({
  path,
  requestStream: false,
  responseStream,
  requestSerialize: raw.serialize,
  requestDeserialize: raw.deserialize,
  responseSerialize: raw.serialize,
  responseDeserialize: raw.deserialize,
});
const service = {
  Echo: method('/t.T/Echo'),
  Fail: method('/t.T/Fail'),
  Hang: method('/t.T/Hang'),
  Big: method('/t.T/Big'),
  Three: method('/t.T/Three', true),
};

describe('UnaryChannel against a gRPC server on a unix socket', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-unary-'));
  const socket = join(dir, 'grpc.sock');
  const server = new grpc.Server({ 'grpc.max_send_message_length': 64 << 20 });
  let hung = 0;
  const call = (ch: UnaryChannel, name: keyof typeof service, body: Buffer, opts: { deadline?: number; signal?: AbortSignal; headers?: Record<string, string> } = {}) =>
    ch.call(service[name].path, body, { maxMessageSize: 16 << 20, ...opts });

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
      Three: (c: grpc.ServerWritableStream<Buffer, Buffer>) => {
        for (const s of ['a', '', 'ccc']) c.write(Buffer.from(s));
        c.end();
      },
    });
    await new Promise<void>((resolve, reject) => server.bindAsync(`unix:${socket}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
  });
  afterAll(() => {
    server.forceShutdown();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends the message and headers and returns the one response message', async () => {
    const ch = new UnaryChannel(socket);
    try {
      expect((await call(ch, 'Echo', Buffer.from('hello'), { headers: { 'containerd-namespace': 'team-a' } })).map(String)).toEqual(['hello ns=team-a']);
      // an empty message is a message too
      expect((await call(ch, 'Echo', Buffer.alloc(0))).map(String)).toEqual([' ns=']);
    } finally {
      ch.close();
    }
  });

  it('returns every message of a server stream, empty ones included', async () => {
    const ch = new UnaryChannel(socket);
    try {
      expect((await call(ch, 'Three', Buffer.alloc(0))).map(String)).toEqual(['a', '', 'ccc']);
    } finally {
      ch.close();
    }
  });

  it('turns a gRPC status into a BerthError with the decoded message', async () => {
    const ch = new UnaryChannel(socket);
    try {
      await expect(call(ch, 'Fail', Buffer.alloc(0))).rejects.toMatchObject({ name: 'BerthError', code: 'NotFound', message: 'image "x": not found ✓ 100%' });
    } finally {
      ch.close();
    }
  });

  it('refuses a response message over the size limit', async () => {
    const ch = new UnaryChannel(socket);
    try {
      await expect(call(ch, 'Big', Buffer.alloc(0))).rejects.toMatchObject({ code: 'ResourceExhausted' });
      // the connection stays usable
      expect((await call(ch, 'Echo', Buffer.from('after'))).map(String)).toEqual(['after ns=']);
    } finally {
      ch.close();
    }
  });

  it('gives up at the deadline and on abort, and the server sees the call cancelled', async () => {
    const ch = new UnaryChannel(socket);
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
    const ch = new UnaryChannel(join(dir, 'absent.sock'));
    try {
      await expect(call(ch, 'Echo', Buffer.alloc(0))).rejects.toMatchObject({ code: 'Unavailable', message: expect.stringMatching(/No connection established.*ENOENT/) });
    } finally {
      ch.close();
    }
    const late = join(dir, 'late.sock');
    const ch2 = new UnaryChannel(late);
    const server2 = new grpc.Server();
    try {
      await expect(call(ch2, 'Echo', Buffer.alloc(0))).rejects.toMatchObject({ code: 'Unavailable' });
      server2.addService(service as unknown as grpc.ServiceDefinition, { Echo: (c: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, c.request) });
      await new Promise<void>((resolve, reject) => server2.bindAsync(`unix:${late}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
      expect((await call(ch2, 'Echo', Buffer.from('now'))).map(String)).toEqual(['now']);
    } finally {
      ch2.close();
      server2.forceShutdown();
    }
  });
});
