// A SPDY/3.1 client for tests, written from the spec (SPDY Protocol Draft 3.1) apart from berth's
// server code, so that it checks the server against the spec: it compresses its header blocks with
// real zlib compression (the server writes stored blocks), keeps its own frame parser, and does
// flow control when asked (SETTINGS INITIAL_WINDOW_SIZE, WINDOW_UPDATE as it reads).
import { connect, type Socket } from 'node:net';
import { constants, createDeflate, createInflate, type Deflate, type Inflate } from 'node:zlib';
import { spdyDictionary } from '../../daemon/cri/streaming/dictionary.ts';

export interface ControlSeen {
  type: number;
  flags: number;
  streamId?: number;
  status?: number;
  id?: number;
}

export class ClientStream {
  readonly chunks: Buffer[] = [];
  finished = false;
  resetStatus: number | undefined;
  replied = false;
  private waiters: Array<() => void> = [];
  /** bytes read and not yet announced with WINDOW_UPDATE */
  unacked = 0;

  constructor(
    private readonly client: SpdyClient,
    readonly id: number,
  ) {}

  write(data: Buffer | string): void {
    this.client.sendData(this.id, Buffer.from(data), false);
  }

  end(data: Buffer | string = ''): void {
    this.client.sendData(this.id, Buffer.from(data), true);
  }

  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }

  /** Resolves once the server sent FIN (or reset the stream); the text received. */
  async ended(timeoutMs = 20_000): Promise<string> {
    await this.until(() => this.finished || this.resetStatus !== undefined, timeoutMs, `stream ${this.id} to end`);
    return this.text();
  }

  async until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.text())}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }

  notify(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

export interface UpgradeResult {
  status: number;
  headers: Record<string, string | string[]>;
  body: string;
  client?: SpdyClient;
}

export class SpdyClient {
  readonly streams = new Map<number, ClientStream>();
  readonly controls: ControlSeen[] = [];
  private nextId = 1;
  private buf = Buffer.alloc(0);
  private readonly deflate: Deflate = createDeflate({ dictionary: spdyDictionary });
  private readonly inflate: Inflate = createInflate({ dictionary: spdyDictionary });
  private queue: Promise<unknown> = Promise.resolve();
  closed = false;
  /** what this client found wrong in the server's frames */
  readonly errors: string[] = [];
  goAway: { lastGoodStreamId: number; status: number } | undefined;
  /** when set: this client's receive window per stream (announced with SETTINGS), refilled with WINDOW_UPDATE as data is read */
  private readonly recvWindow: number | undefined;
  /** stop refilling (to see that the server keeps to the window) */
  holdWindow = false;

  private constructor(
    readonly socket: Socket,
    opts: { recvWindow?: number },
  ) {
    this.recvWindow = opts.recvWindow;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('close', () => {
      this.closed = true;
      for (const s of this.streams.values()) s.notify();
    });
    socket.on('error', () => undefined);
    if (this.recvWindow !== undefined) {
      // SETTINGS, one entry: INITIAL_WINDOW_SIZE (id 7)
      const body = Buffer.alloc(12);
      body.writeUInt32BE(1, 0);
      body.writeUInt32BE(7, 4);
      body.writeUInt32BE(this.recvWindow, 8);
      this.sendControl(4, 0, body);
    }
  }

  /** An HTTP/1.1 upgrade to SPDY/3.1 on url, offering protocols; the client when the server switched. */
  static async upgrade(
    url: string,
    protocols: string[],
    opts: { method?: string; upgrade?: string; recvWindow?: number; extraHeaders?: string[] } = {},
  ): Promise<UpgradeResult> {
    const u = new URL(url);
    const socket = connect({ host: u.hostname, port: Number(u.port) });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const lines = [
      `${opts.method ?? 'POST'} ${u.pathname} HTTP/1.1`,
      `Host: ${u.host}`,
      'Connection: Upgrade',
      `Upgrade: ${opts.upgrade ?? 'SPDY/3.1'}`,
      ...protocols.map((p) => `X-Stream-Protocol-Version: ${p}`),
      ...(opts.extraHeaders ?? []),
      'Content-Length: 0',
    ];
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    let head = Buffer.alloc(0);
    const rest = await new Promise<Buffer>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        socket.off('data', onData);
        const after = head.subarray(end + 4);
        head = head.subarray(0, end);
        resolve(after);
      };
      socket.on('data', onData);
      socket.once('error', reject);
      socket.once('end', () => resolve(Buffer.alloc(0)));
    });
    const [statusLine, ...headerLines] = head.toString('latin1').split('\r\n');
    const status = Number(statusLine?.split(' ')[1]);
    const headers: Record<string, string | string[]> = {};
    for (const l of headerLines) {
      const i = l.indexOf(':');
      const k = l.slice(0, i).trim().toLowerCase();
      const v = l.slice(i + 1).trim();
      const prev = headers[k];
      headers[k] = prev === undefined ? v : [...(Array.isArray(prev) ? prev : [prev]), v];
    }
    if (status !== 101) {
      let body = rest.toString('utf8');
      await new Promise<void>((resolve) => {
        socket.on('data', (c: Buffer) => (body += c.toString('utf8')));
        socket.once('close', () => resolve());
        setTimeout(resolve, 2000);
      });
      socket.destroy();
      return { status, headers, body };
    }
    const client = new SpdyClient(socket, opts);
    if (rest.length > 0) client.onData(rest);
    return { status, headers, body: '', client };
  }

  /** Opens a stream with these headers (SYN_STREAM; names lower-cased by the caller). */
  async open(headers: Record<string, string>, fin = false): Promise<ClientStream> {
    const id = this.nextId;
    this.nextId += 2;
    const s = new ClientStream(this, id);
    this.streams.set(id, s);
    const block = await this.compress(headerBlock(headers));
    const body = Buffer.alloc(10);
    body.writeUInt32BE(id, 0);
    body.writeUInt32BE(0, 4);
    body[8] = 0;
    body[9] = 0;
    this.sendControl(1, fin ? 1 : 0, Buffer.concat([body, block]));
    return s;
  }

  sendData(id: number, data: Buffer, fin: boolean): void {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(id & 0x7fffffff, 0);
    head.writeUInt32BE(data.length, 4);
    head[4] = fin ? 1 : 0;
    this.raw(Buffer.concat([head, data]));
  }

  sendControl(type: number, flags: number, body: Buffer): void {
    const head = Buffer.alloc(8);
    head.writeUInt16BE(0x8000 | 3, 0);
    head.writeUInt16BE(type, 2);
    head.writeUInt32BE(body.length, 4);
    head[4] = flags;
    this.raw(Buffer.concat([head, body]));
  }

  raw(bytes: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  windowUpdate(streamId: number, delta: number): void {
    const body = Buffer.alloc(8);
    body.writeUInt32BE(streamId, 0);
    body.writeUInt32BE(delta, 4);
    this.sendControl(9, 0, body);
  }

  ping(id: number): void {
    const body = Buffer.alloc(4);
    body.writeUInt32BE(id, 0);
    this.sendControl(6, 0, body);
  }

  close(): void {
    this.socket.destroy();
  }

  async waitClosed(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('timed out waiting for the server to close the connection');
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** The header block compressed in this session's one zlib stream (SYNC_FLUSH per block). */
  private compress(block: Buffer): Promise<Buffer> {
    const run = this.queue.then(
      () =>
        new Promise<Buffer>((resolve) => {
          const out: Buffer[] = [];
          const onData = (c: Buffer) => out.push(c);
          this.deflate.on('data', onData);
          this.deflate.write(block);
          this.deflate.flush(constants.Z_SYNC_FLUSH, () => {
            this.deflate.off('data', onData);
            resolve(Buffer.concat(out));
          });
        }),
    );
    this.queue = run;
    return run;
  }

  private decompress(block: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const out: Buffer[] = [];
      const onData = (c: Buffer) => out.push(c);
      this.inflate.on('data', onData);
      this.inflate.once('error', reject);
      this.inflate.write(block);
      this.inflate.flush(constants.Z_SYNC_FLUSH, () => {
        this.inflate.off('data', onData);
        resolve(Buffer.concat(out));
      });
    });
  }

  private inOrder: Promise<void> = Promise.resolve();

  private onData(chunk: Buffer): void {
    this.buf = Buffer.concat([this.buf, chunk]);
    while (this.buf.length >= 8) {
      const length = this.buf.readUIntBE(5, 3);
      if (this.buf.length < 8 + length) break;
      const frame = this.buf.subarray(0, 8 + length);
      this.buf = this.buf.subarray(8 + length);
      this.inOrder = this.inOrder.then(() => this.onFrame(Buffer.from(frame))).catch((err: Error) => void this.errors.push(err.message));
    }
  }

  private async onFrame(f: Buffer): Promise<void> {
    const flags = f[4]!;
    const body = f.subarray(8);
    if ((f[0]! & 0x80) === 0) {
      const id = f.readUInt32BE(0) & 0x7fffffff;
      const s = this.streams.get(id);
      if (!s) return;
      if (!s.replied) throw new Error(`DATA on stream ${id} before its SYN_REPLY`);
      s.chunks.push(Buffer.from(body));
      if (this.recvWindow !== undefined && !this.holdWindow && body.length > 0) {
        this.windowUpdate(id, body.length);
        this.windowUpdate(0, body.length);
      }
      if (flags & 1) s.finished = true;
      s.notify();
      return;
    }
    const version = f.readUInt16BE(0) & 0x7fff;
    if (version !== 3) throw new Error(`a control frame of version ${version}`);
    const type = f.readUInt16BE(2);
    const seen: ControlSeen = { type, flags };
    switch (type) {
      case 2: {
        // SYN_REPLY: stream id, then the header block
        seen.streamId = body.readUInt32BE(0) & 0x7fffffff;
        // each header block ends with a sync flush (an empty stored block), so that any inflater
        // (Go's in particular) hands the block out without reading on into the next frame
        if (!body.subarray(-4).equals(Buffer.from([0, 0, 0xff, 0xff])))
          this.errors.push(`SYN_REPLY ${seen.streamId}: its header block does not end with a sync flush`);
        await this.decompress(body.subarray(4));
        const s = this.streams.get(seen.streamId);
        if (s) {
          s.replied = true;
          if (flags & 1) s.finished = true;
          s.notify();
        }
        break;
      }
      case 3: {
        seen.streamId = body.readUInt32BE(0) & 0x7fffffff;
        seen.status = body.readUInt32BE(4);
        const s = this.streams.get(seen.streamId);
        if (s) {
          s.resetStatus = seen.status;
          s.notify();
        }
        break;
      }
      case 6:
        seen.id = body.readUInt32BE(0);
        break;
      case 7:
        seen.streamId = body.readUInt32BE(0) & 0x7fffffff;
        seen.status = body.readUInt32BE(4);
        this.goAway = { lastGoodStreamId: seen.streamId, status: seen.status };
        break;
      case 9:
        seen.streamId = body.readUInt32BE(0) & 0x7fffffff;
        break;
    }
    this.controls.push(seen);
    for (const s of this.streams.values()) s.notify();
  }
}

/** The name/value block of SPDY/3: a 32-bit count, then 32-bit lengths before each name and value. */
export function headerBlock(headers: Record<string, string>): Buffer {
  const parts: Buffer[] = [];
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n, 0);
    return b;
  };
  const entries = Object.entries(headers);
  parts.push(u32(entries.length));
  for (const [k, v] of entries) {
    parts.push(u32(Buffer.byteLength(k)), Buffer.from(k), u32(Buffer.byteLength(v)), Buffer.from(v));
  }
  return Buffer.concat(parts);
}

/** What a remotecommand session gave back. */
export interface CommandResult {
  stdout: string;
  stderr: string;
  error: string;
  protocol: string;
}

/**
 * Runs a remotecommand session as client-go's SPDY executor does: the error stream first, then
 * stdin, stdout, stderr and resize as asked; `drive` may write to stdin and resize meanwhile.
 */
export async function remoteCommand(
  url: string,
  opts: {
    protocols?: string[];
    stdin?: boolean;
    stdout?: boolean;
    stderr?: boolean;
    tty?: boolean;
    recvWindow?: number;
    drive?: (s: { stdin?: ClientStream; stdout?: ClientStream; resize?: ClientStream; client: SpdyClient }) => Promise<void>;
  } = {},
): Promise<CommandResult> {
  const up = await SpdyClient.upgrade(url, opts.protocols ?? ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'], {
    recvWindow: opts.recvWindow,
  });
  if (!up.client) throw new Error(`upgrade refused: ${up.status} ${up.body}`);
  const client = up.client;
  const protocol = String(up.headers['x-stream-protocol-version'] ?? '');
  try {
    const error = await client.open({ streamtype: 'error' });
    const stdin = opts.stdin ? await client.open({ streamtype: 'stdin' }) : undefined;
    const stdout = opts.stdout !== false ? await client.open({ streamtype: 'stdout' }) : undefined;
    const stderr = opts.stderr && !opts.tty ? await client.open({ streamtype: 'stderr' }) : undefined;
    const resize = opts.tty ? await client.open({ streamtype: 'resize' }) : undefined;
    await opts.drive?.({ stdin, stdout, resize, client });
    const [out, err, errText] = await Promise.all([stdout?.ended() ?? '', stderr?.ended() ?? '', error.ended()]);
    return { stdout: out, stderr: err, error: errText, protocol };
  } finally {
    client.close();
  }
}
