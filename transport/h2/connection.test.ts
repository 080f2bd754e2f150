import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { H2Connection, type H2Stream } from './connection.ts';
import { CLIENT_PREFACE, ErrorCode, FrameType, frame, settingsFrame, windowUpdateFrame } from './frames.ts';

// The peer is node:http2 (nghttp2), a complete HTTP/2 implementation: if this connection gets
// framing, HPACK, padding, CONTINUATION or flow control wrong, nghttp2 says so.

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('H2Connection as a server, driven by node:http2 clients', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-h2-'));
  const path = join(dir, 'h2.sock');
  const conns = new Set<H2Connection>();
  const closed: Array<{ path: string; aborted: boolean }> = [];
  let server: net.Server;

  /** /echo: the body's length and sha256 back; /big?n: n bytes; /headers: a 40 KB response header; /hang: never answers; /paused: never reads */
  function handle(s: H2Stream): void {
    const url = new URL(String(s.headers[':path']), 'http://x');
    const body: Buffer[] = [];
    s.onClose = (aborted) => closed.push({ path: url.pathname, aborted });
    s.onData = (chunk) => body.push(chunk);
    if (url.pathname === '/paused') s.pause();
    s.onEnd = () => {
      if (url.pathname === '/hang') return;
      const data = Buffer.concat(body);
      if (url.pathname === '/echo') {
        s.respond([
          [':status', '200'],
          ['x-echo', String(s.headers['x-big'] ?? '').length.toString()],
        ]);
        s.write(Buffer.from(`${data.length} ${sha(data)}`));
        s.end([['x-trailer', 'done']]);
      } else if (url.pathname === '/big') {
        const n = Number(url.searchParams.get('n'));
        s.respond([[':status', '200']]);
        const chunk = Buffer.alloc(n, 'b');
        s.write(chunk.subarray(0, n >> 1), chunk.subarray(n >> 1));
        s.end();
      } else if (url.pathname === '/headers') {
        s.respond(
          [
            [':status', '200'],
            ['x-large', 'h'.repeat(40_000)],
          ],
          true,
        );
      }
    };
  }

  beforeAll(async () => {
    server = net.createServer((socket) => {
      const conn = new H2Connection(socket, { role: 'server' });
      conns.add(conn);
      conn.onClose = () => conns.delete(conn);
      conn.onStream = handle;
    });
    await new Promise<void>((r) => server.listen(path, r));
  });
  afterAll(() => {
    for (const c of conns) c.destroy();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const connect = (settings: http2.Settings = {}, extra: http2.ClientSessionOptions = {}) =>
    http2.connect('http://localhost', { createConnection: () => net.connect(path), settings, ...extra });

  function request(client: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: Buffer) {
    return new Promise<{ headers: http2.IncomingHttpHeaders; trailers: http2.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
      const req = client.request({ ':method': 'POST', ...headers });
      const chunks: Buffer[] = [];
      let responseHeaders: http2.IncomingHttpHeaders = {};
      let trailers: http2.IncomingHttpHeaders = {};
      req.on('response', (h) => (responseHeaders = h));
      req.on('trailers', (t) => (trailers = t));
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => resolve({ headers: responseHeaders, trailers, body: Buffer.concat(chunks) }));
      req.on('error', reject);
      req.end(body);
    });
  }

  it('takes a request body far over its windows and sends one far over the client window', async () => {
    // the client's stream window is 1000 bytes: 300 KB only arrive as it opens the window again
    const client = connect({ initialWindowSize: 1000 });
    try {
      const big = randomBytes(5 << 20);
      const [echo, large] = await Promise.all([request(client, { ':path': '/echo' }, big), request(client, { ':path': '/big?n=300000' })]);
      expect(echo.body.toString()).toBe(`${big.length} ${sha(big)}`);
      expect(echo.trailers['x-trailer']).toBe('done');
      expect(large.body.equals(Buffer.alloc(300_000, 'b'))).toBe(true);
    } finally {
      client.close();
    }
  });

  it('reads padded frames and header blocks split over CONTINUATION, and splits its own', async () => {
    const client = connect({}, { paddingStrategy: http2.constants.PADDING_STRATEGY_MAX, maxSendHeaderBlockLength: 1 << 20 });
    try {
      const value = 'v'.repeat(50_000);
      const echo = await request(client, { ':path': '/echo', 'x-big': value }, Buffer.from('padded'));
      expect(echo.headers['x-echo']).toBe('50000');
      expect(echo.body.toString()).toBe(`6 ${sha(Buffer.from('padded'))}`);
      const large = await request(client, { ':path': '/headers' });
      expect(large.headers['x-large']).toBe('h'.repeat(40_000));
    } finally {
      client.close();
    }
  });

  it('answers PING and many interleaved streams on one connection', async () => {
    const client = connect();
    try {
      await new Promise((r) => client.once('remoteSettings', r));
      await new Promise<void>((resolve, reject) => client.ping((err) => (err ? reject(err) : resolve())));
      const bodies = Array.from({ length: 200 }, (_, i) => Buffer.from(`request ${i}`));
      const answers = await Promise.all(bodies.map((b) => request(client, { ':path': '/echo' }, b)));
      for (const [i, a] of answers.entries()) expect(a.body.toString()).toBe(`${bodies[i]!.length} ${sha(bodies[i]!)}`);
    } finally {
      client.close();
    }
  });

  it('tells the stream when the client resets it, and closes streams cleanly otherwise', async () => {
    const client = connect();
    try {
      closed.length = 0;
      await request(client, { ':path': '/echo' }, Buffer.from('x'));
      const req = client.request({ ':method': 'POST', ':path': '/hang' });
      req.end('y');
      await new Promise((r) => setTimeout(r, 50));
      req.close(http2.constants.NGHTTP2_CANCEL);
      await waitFor(() => closed.length === 2);
      expect(closed).toEqual([
        { path: '/echo', aborted: false },
        { path: '/hang', aborted: true },
      ]);
    } finally {
      client.close();
    }
  });

  it('goes away gracefully: the open stream finishes, a new one is refused', async () => {
    const client = connect();
    try {
      await request(client, { ':path': '/echo' }, Buffer.from('warm'));
      const open = client.request({ ':method': 'POST', ':path': '/echo' });
      const answered = new Promise<string>((resolve) => {
        const chunks: Buffer[] = [];
        open.on('data', (c: Buffer) => chunks.push(c));
        open.on('end', () => resolve(Buffer.concat(chunks).toString()));
      });
      const goaway = new Promise((r) => client.once('goaway', r));
      await waitFor(() => [...conns].some((c) => c.size === 1));
      for (const c of conns) c.goaway();
      await goaway;
      open.end('late');
      expect(await answered).toBe(`4 ${sha(Buffer.from('late'))}`);
      await expect(request(client, { ':path': '/echo' }, Buffer.from('refused'))).rejects.toThrow();
    } finally {
      client.close();
    }
  });

  describe('a peer that breaks the protocol gets GOAWAY with the right code', () => {
    /** Sends raw bytes after the preface and SETTINGS; resolves with the first frame of `type` the server sends back (or undefined when it closes without one). */
    async function answer(type: number, ...frames: Buffer[]): Promise<{ id: number; code: number } | undefined> {
      const socket = net.connect(path);
      const got: Buffer[] = [];
      socket.write(Buffer.concat([CLIENT_PREFACE, settingsFrame([]), ...frames]));
      return new Promise((resolve) => {
        const look = () => {
          const all = Buffer.concat(got);
          for (let at = 0; at + 9 <= all.length; ) {
            const length = all.readUIntBE(at, 3);
            if (at + 9 + length > all.length) break;
            if (all[at + 3] === type) {
              socket.destroy();
              const payload = all.subarray(at + 9, at + 9 + length);
              return resolve({ id: all.readUInt32BE(at + 5), code: payload.readUInt32BE(type === FrameType.GOAWAY ? 4 : 0) });
            }
            at += 9 + length;
          }
        };
        socket.on('data', (b: Buffer) => {
          got.push(b);
          look();
        });
        socket.on('close', () => resolve(undefined));
      });
    }
    const goawayCode = async (...frames: Buffer[]) => (await answer(FrameType.GOAWAY, ...frames))?.code;

    it('DATA on stream 0, HEADERS on an even stream, a frame on an idle stream', async () => {
      expect(await goawayCode(frame(FrameType.DATA, 0, 0, Buffer.from('x')))).toBe(ErrorCode.PROTOCOL_ERROR);
      expect(await goawayCode(frame(FrameType.HEADERS, 0x4, 2, Buffer.from([0x82])))).toBe(ErrorCode.PROTOCOL_ERROR);
      expect(await goawayCode(windowUpdateFrame(7, 10))).toBe(ErrorCode.PROTOCOL_ERROR);
    });

    it('a frame over the size allowed, a bad PING, a window past 2^31-1', async () => {
      expect(await goawayCode(frame(FrameType.DATA, 0, 1, Buffer.alloc(20_000)))).toBe(ErrorCode.FRAME_SIZE_ERROR);
      expect(await goawayCode(frame(FrameType.PING, 0, 0, Buffer.alloc(7)))).toBe(ErrorCode.FRAME_SIZE_ERROR);
      expect(await goawayCode(windowUpdateFrame(0, 2 ** 31 - 1))).toBe(ErrorCode.FLOW_CONTROL_ERROR);
    });

    it('a header block HPACK cannot decode, and one interrupted by another frame', async () => {
      expect(await goawayCode(frame(FrameType.HEADERS, 0x4, 1, Buffer.from([0x80])))).toBe(ErrorCode.COMPRESSION_ERROR);
      expect(await goawayCode(frame(FrameType.HEADERS, 0, 1, Buffer.from([0x82])), frame(FrameType.PING, 0, 0, Buffer.alloc(8)))).toBe(
        ErrorCode.PROTOCOL_ERROR,
      );
    });

    it('DATA beyond the window of a stream that is not read: that stream is reset', async () => {
      // :method POST, :scheme http, then :path /paused as a literal
      const open = frame(FrameType.HEADERS, 0x4, 1, Buffer.from([0x83, 0x86, 0x04, 0x07, ...Buffer.from('/paused')]));
      const data = Array.from({ length: 70 }, () => frame(FrameType.DATA, 0, 1, Buffer.alloc(16_000)));
      expect(await answer(FrameType.RST_STREAM, open, ...data)).toEqual({ id: 1, code: ErrorCode.FLOW_CONTROL_ERROR });
    });

    it('a client that does not speak HTTP/2 is disconnected', async () => {
      const socket = net.connect(path);
      socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      socket.resume();
      await new Promise((r) => socket.on('close', r));
    });
  });
});

async function waitFor(ok: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}
