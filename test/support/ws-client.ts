// A WebSocket client for tests, written from RFC 6455 apart from berth's server code: the opening
// handshake (checking Sec-WebSocket-Accept), masked frames out, unmasked frames in.
import { createHash, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

export interface WsMessage {
  op: number;
  data: Buffer;
}

export class WsClient {
  readonly messages: WsMessage[] = [];
  closed = false;
  private buf = Buffer.alloc(0);

  private constructor(
    private readonly socket: Socket,
    readonly protocol: string,
  ) {
    socket.on('data', (c: Buffer) => this.onData(c));
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => undefined);
  }

  /** Opens a WebSocket on url offering protocols; the HTTP status and the client when it was 101. */
  static async open(url: string, protocols: string[]): Promise<{ status: number; client?: WsClient }> {
    const u = new URL(url);
    const socket = connect({ host: u.hostname, port: Number(u.port) });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const key = randomBytes(16).toString('base64');
    const lines = [
      `GET ${u.pathname} HTTP/1.1`,
      `Host: ${u.host}`,
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Key: ${key}`,
      'Sec-WebSocket-Version: 13',
      ...(protocols.length > 0 ? [`Sec-WebSocket-Protocol: ${protocols.join(', ')}`] : []),
    ];
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    let head = Buffer.alloc(0);
    const rest = await new Promise<Buffer>((resolve) => {
      const onData = (c: Buffer) => {
        head = Buffer.concat([head, c]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        socket.off('data', onData);
        const after = head.subarray(end + 4);
        head = head.subarray(0, end);
        resolve(after);
      };
      socket.on('data', onData);
      socket.once('close', () => resolve(Buffer.alloc(0)));
    });
    const text = head.toString('latin1');
    const status = Number(text.split(' ')[1]);
    if (status !== 101) {
      socket.destroy();
      return { status };
    }
    const header = (name: string) => {
      const line = text.split('\r\n').find((l) => l.toLowerCase().startsWith(`${name}:`));
      return line?.slice(line.indexOf(':') + 1).trim();
    };
    const want = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    if (header('sec-websocket-accept') !== want) throw new Error(`bad Sec-WebSocket-Accept in ${text}`);
    const client = new WsClient(socket, String(header('sec-websocket-protocol') ?? ''));
    if (rest.length > 0) client.onData(rest);
    return { status, client };
  }

  /** Sends a frame, masked as a client must (unless `unmasked`, to see the server refuse it). */
  frame(op: number, data: Buffer, opts: { fin?: boolean; unmasked?: boolean } = {}): void {
    const len = data.length;
    const head = Buffer.alloc(len < 126 ? 2 : len < 0x10000 ? 4 : 10);
    head[0] = (opts.fin === false ? 0 : 0x80) | op;
    const maskBit = opts.unmasked ? 0 : 0x80;
    if (len < 126) head[1] = maskBit | len;
    else if (len < 0x10000) {
      head[1] = maskBit | 126;
      head.writeUInt16BE(len, 2);
    } else {
      head[1] = maskBit | 127;
      head.writeBigUInt64BE(BigInt(len), 2);
    }
    if (opts.unmasked) {
      this.socket.write(Buffer.concat([head, data]));
      return;
    }
    const mask = randomBytes(4);
    const body = Buffer.from(data);
    for (let i = 0; i < body.length; i++) body[i]! ^= mask[i & 3]!;
    this.socket.write(Buffer.concat([head, mask, body]));
  }

  /** A binary message on a channel (its first byte). */
  sendChannel(channel: number, data: Buffer | string): void {
    this.frame(2, Buffer.concat([Buffer.from([channel]), Buffer.from(data)]));
  }

  close(): void {
    this.socket.destroy();
  }

  async until(cond: () => boolean, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      if (Date.now() > deadline) throw new Error(`timed out; messages so far: ${JSON.stringify(this.messages.map((m) => [m.op, m.data.toString()]))}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** What came on a channel (binary messages; text ones with base64 when `base64`). */
  channel(ch: number, base64 = false): string {
    return this.messages
      .filter((m) => (base64 ? m.op === 1 && m.data[0] === 0x30 + ch : m.op === 2 && m.data[0] === ch))
      .map((m) => (base64 ? Buffer.from(m.data.subarray(1).toString(), 'base64').toString() : m.data.subarray(1).toString()))
      .join('');
  }

  private onData(c: Buffer): void {
    this.buf = Buffer.concat([this.buf, c]);
    for (;;) {
      if (this.buf.length < 2) return;
      if (this.buf[1]! & 0x80) throw new Error('a server frame is masked');
      let len = this.buf[1]! & 0x7f;
      let at = 2;
      if (len === 126) {
        if (this.buf.length < 4) return;
        len = this.buf.readUInt16BE(2);
        at = 4;
      } else if (len === 127) {
        if (this.buf.length < 10) return;
        len = Number(this.buf.readBigUInt64BE(2));
        at = 10;
      }
      if (this.buf.length < at + len) return;
      this.messages.push({ op: this.buf[0]! & 0x0f, data: Buffer.from(this.buf.subarray(at, at + len)) });
      this.buf = this.buf.subarray(at + len);
    }
  }
}
