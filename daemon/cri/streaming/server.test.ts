// The streaming server's own rules, with backends of the test's: tokens, the limits of a session,
// and what it does with a client that opens nothing, too much, or sends nothing.
import { connect, createServer, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpdyClient } from '../../../test/support/spdy-client.ts';
import { eventually } from '../../../test/support/util.ts';
import { createLogger } from '../../log.ts';
import { type StreamBackends, StreamingServer } from './server.ts';

const options = { stdin: true, stdout: true, stderr: false, tty: false };

describe('StreamingServer', () => {
  let server: StreamingServer;
  let echo: ReturnType<typeof createServer>;
  let echoPort = 0;

  const backends: StreamBackends = {
    // cat: stdin to stdout, exit code 0
    exec: async (_id, _cmd, io) => {
      io.stdin?.pipe(io.stdout!, { end: false });
      await new Promise((r) => io.stdin?.once('end', r));
      return 0;
    },
    attach: async () => 0,
    dialer: async () => (port) =>
      new Promise<Socket>((resolve, reject) => {
        const s = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
        s.once('connect', () => resolve(s));
        s.once('error', reject);
      }),
  };

  beforeAll(async () => {
    echo = createServer({ allowHalfOpen: true }, (s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    echoPort = (echo.address() as { port: number }).port;
    server = new StreamingServer({
      address: '127.0.0.1',
      port: 0,
      idleTimeoutMs: 600,
      backends,
      log: createLogger('error'),
      tokenTtlMs: 300,
      maxTokens: 4,
      streamTimeoutMs: 400,
      limits: { maxStreams: 3, maxHeaderBlock: 1024 },
    });
    await server.listen();
  });

  afterAll(async () => {
    await server?.close();
    echo?.close();
  });

  const exec = () => server.urlFor({ kind: 'exec', containerId: 'c', cmd: ['cat'], options });
  const forward = () => server.urlFor({ kind: 'portforward', podSandboxId: 'p' });

  it('a token is good once, for its lifetime; no more than maxTokens wait at once', async () => {
    const stale = exec();
    await new Promise((r) => setTimeout(r, 350));
    expect((await SpdyClient.upgrade(stale, ['v4.channel.k8s.io'])).status).toBe(404);
    const urls = [exec(), exec(), exec(), exec()];
    expect(() => exec()).toThrow(expect.objectContaining({ code: 'ResourceExhausted' }));
    const up = await SpdyClient.upgrade(urls[0]!, ['v4.channel.k8s.io']);
    expect(up.status).toBe(101);
    up.client!.close();
    // an exec URL is not a port-forward one
    expect((await SpdyClient.upgrade(urls[1]!.replace('/exec/', '/portforward/'), ['portforward.k8s.io'])).status).toBe(404);
    await new Promise((r) => setTimeout(r, 350));
  });

  it('runs the command with the streams it asked for: stdin to stdout here', async () => {
    const up = await SpdyClient.upgrade(exec(), ['v4.channel.k8s.io']);
    const c = up.client!;
    const error = await c.open({ streamtype: 'error' });
    const stdin = await c.open({ streamtype: 'stdin' });
    const stdout = await c.open({ streamtype: 'stdout' });
    stdin.end('round trip');
    expect(await stdout.ended()).toBe('round trip');
    expect(JSON.parse(await error.ended())).toEqual({ metadata: {}, status: 'Success' });
    await c.waitClosed();
    expect(c.errors).toEqual([]);
  });

  it('a client that does not open its streams in time, or sends nothing for the idle timeout, is let go', async () => {
    const slow = await SpdyClient.upgrade(exec(), ['v4.channel.k8s.io']);
    await slow.client!.open({ streamtype: 'error' });
    await slow.client!.waitClosed(3000);
    expect(slow.client!.goAway?.status).toBe(0);
    const idle = await SpdyClient.upgrade(forward(), ['portforward.k8s.io']);
    const started = Date.now();
    await idle.client!.waitClosed(3000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);
  });

  it('refuses streams past maxStreams (REFUSED_STREAM) and still forwards on the others', async () => {
    const up = await SpdyClient.upgrade(forward(), ['portforward.k8s.io']);
    const c = up.client!;
    const h = (type: string, id: number) => ({ streamtype: type, port: String(echoPort), requestid: String(id) });
    const error = await c.open(h('error', 0));
    const data = await c.open(h('data', 0));
    await c.open(h('error', 1));
    const extra = await c.open(h('data', 1));
    await eventually(
      () => extra.resetStatus,
      (s) => s !== undefined,
      3000,
    );
    expect(extra.resetStatus).toBe(3);
    data.end('echo me');
    expect(await data.ended()).toBe('echo me');
    expect(await error.ended()).toBe('');
    c.close();
  });

  it('a header block that inflates past the limit, or stream ids out of order, end the session with GOAWAY PROTOCOL_ERROR; an id in use is RST STREAM_IN_USE', async () => {
    const twice = await SpdyClient.upgrade(forward(), ['portforward.k8s.io']);
    const t = twice.client!;
    await t.open({ streamtype: 'error', port: '1', requestid: '0' });
    (t as unknown as { nextId: number }).nextId = 1;
    const again = await t.open({ streamtype: 'data', port: '1', requestid: '0' });
    await eventually(
      () => again.resetStatus,
      (s) => s !== undefined,
      3000,
    );
    expect(again.resetStatus).toBe(8);
    t.close();

    const big = await SpdyClient.upgrade(forward(), ['portforward.k8s.io']);
    await big.client!.open({ streamtype: 'data', port: '1', padding: 'x'.repeat(4000) });
    await big.client!.waitClosed(3000);
    expect(big.client!.goAway?.status).toBe(1);

    const order = await SpdyClient.upgrade(forward(), ['portforward.k8s.io']);
    const c = order.client!;
    // stream 3 first, then stream 1: ids must grow
    (c as unknown as { nextId: number }).nextId = 3;
    await c.open({ streamtype: 'error', port: '1', requestid: '0' });
    (c as unknown as { nextId: number }).nextId = 1;
    await c.open({ streamtype: 'data', port: '1', requestid: '0' });
    await c.waitClosed(3000);
    expect(c.goAway?.status).toBe(1);
  });
});
