import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContentHandlers } from '../api/gen/containerd/services/content/v1/Content.ts';
import type { WriteContentRequest__Output } from '../api/gen/containerd/services/content/v1/WriteContentRequest.ts';
import type { HealthHandlers } from '../api/gen/grpc/health/v1/Health.ts';
import { Content, Health } from '../api/services.ts';
import { BerthError, notFound, unimplemented } from '../core/errors.ts';
import { BerthClient } from './client.ts';
import { serverStream, unary } from './grpc/handlers.ts';
import { GrpcServer } from './grpc/server.ts';
import { collect } from './typed.ts';

// Typed clients (BerthClient.service and its getters) against GrpcServer.addService with the
// same service constants, with real protobuf codecs: each kind of method and the per-call options.
describe('typed clients and services', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-typed-'));
  const socket = join(dir, 's.sock');
  const server = new GrpcServer({ maxMessageSize: 1 << 20 });
  const nope = unary(async () => {
    throw unimplemented('not in this test');
  });
  const seen: { namespace: unknown[]; lease: unknown[]; timeout: unknown[] } = { namespace: [], lease: [], timeout: [] };

  beforeAll(async () => {
    const health: HealthHandlers = {
      Check: unary(async (req, call) => {
        seen.namespace.push(call.metadata.get('containerd-namespace')[0]);
        seen.lease.push(call.metadata.get('containerd-lease')[0]);
        seen.timeout.push(call.metadata.get('grpc-timeout')[0]);
        if (req.service === 'missing') throw notFound('unknown service');
        return { status: 'SERVING' };
      }),
      List: unary(async () => ({ statuses: { '': { status: 'SERVING' }, x: { status: 'NOT_SERVING' } } })),
      Watch: serverStream(async function* (req) {
        for (const status of ['SERVING', 'NOT_SERVING', 'SERVING'] as const) yield { status };
        if (req.service === 'fail') throw notFound('gone');
      }),
    };
    const content: ContentHandlers = {
      Info: unary(async (req) => ({ info: { digest: req.digest, size: 3, labels: { a: 'b' } } })),
      Update: nope,
      List: serverStream(async function* () {
        yield { info: [{ digest: 'sha256:a', size: 1 }] };
        yield { info: [{ digest: 'sha256:b', size: 2 }] };
      }),
      Delete: nope,
      Read: serverStream(async function* (req) {
        yield { offset: req.offset, data: Buffer.from('abc') };
      }),
      Status: nope,
      ListStatuses: nope,
      // answers each request with its offset plus the bytes it carried
      Write: (call) => {
        call.on('data', (req: WriteContentRequest__Output) => call.write({ action: req.action, offset: req.offset + req.data.length }));
        call.on('end', () => call.end());
      },
      Abort: nope,
    };
    server.addService(Health, health);
    server.addService(Content, content);
    await server.listen(socket);
  });
  afterAll(() => {
    server.forceShutdown();
    rmSync(dir, { recursive: true, force: true });
  });

  it('calls unary methods with the decoded response, failures as BerthErrors', async () => {
    const c = new BerthClient({ address: socket, namespace: 'ns1' });
    try {
      expect(await c.service(Health).Check({ service: '' })).toEqual({ status: 'SERVING' });
      const info = await c.content.Info({ digest: 'sha256:x' });
      expect(info.info).toMatchObject({ digest: 'sha256:x', size: 3, labels: { a: 'b' }, created_at: null });
      const err = await c
        .service(Health)
        .Check({ service: 'missing' })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BerthError);
      expect(err).toMatchObject({ code: 'NotFound' });
      expect(c.service(Health)).toBe(c.service(Health));
      expect(c.content).toBe(c.service(Content));
    } finally {
      c.close();
    }
  });

  it("sends the client scope, a call scope instead, and the deadline (the call's own timeoutMs, none for 0) unless deadline: false", async () => {
    const c = new BerthClient({ address: socket, namespace: 'ns1', lease: 'l1', timeoutMs: 5000 });
    try {
      seen.namespace.length = seen.lease.length = seen.timeout.length = 0;
      await c.service(Health).Check({});
      await c.service(Health).Check({}, { namespace: 'ns2', lease: 'l2', deadline: false });
      expect(seen.namespace).toEqual(['ns1', 'ns2']);
      expect(seen.lease).toEqual(['l1', 'l2']);
      expect(seen.timeout[0]).toMatch(/^\d+[mu]$/);
      expect(seen.timeout[1]).toBeUndefined();
      await c.service(Health).Check({}, { timeoutMs: 250 });
      await c.service(Health).Check({}, { timeoutMs: 0 });
      expect(seen.timeout[2]).toMatch(/^2[45]\dm$/);
      expect(seen.timeout[3]).toBeUndefined();
      const ac = new AbortController();
      ac.abort();
      expect(
        await c
          .service(Health)
          .Check({}, { signal: ac.signal })
          .catch((e: BerthError) => e.code),
      ).toBe('Canceled');
    } finally {
      c.close();
    }
  });

  it('iterates response streams, and ends them with the failure', async () => {
    const c = new BerthClient({ address: socket });
    try {
      const infos = (await collect(c.content.List({ filters: [] }))).flatMap((m) => m.info.map((i) => i.digest));
      expect(infos).toEqual(['sha256:a', 'sha256:b']);
      const statuses: string[] = [];
      let call: { cancel(): void } | undefined;
      const watch = c.service(Health).Watch({ service: 'fail' }, { onCall: (x) => (call = x) });
      await expect(
        (async () => {
          for await (const m of watch) statuses.push(m.status);
        })(),
      ).rejects.toMatchObject({ code: 'NotFound' });
      expect(statuses).toEqual(['SERVING', 'NOT_SERVING', 'SERVING']);
      expect(call).toBeDefined();
    } finally {
      c.close();
    }
  });

  it('opens request streams as calls', async () => {
    const c = new BerthClient({ address: socket });
    try {
      const call = c.content.Write();
      const got: number[] = [];
      const done = new Promise<BerthError | undefined>((resolve) => (call.onDone = resolve));
      call.onMessage = (m) => got.push(m.offset);
      call.write({ action: 'WRITE', offset: 0, data: Buffer.from('abcd') });
      call.write({ action: 'WRITE', offset: 4, data: Buffer.from('ef') });
      call.end();
      expect(await done).toBeUndefined();
      expect(got).toEqual([4, 6]);
    } finally {
      c.close();
    }
  });
});
