import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { PassThrough, Writable } from 'node:stream';
import { type CommandRunner, ExitCodeError, type StreamOptions, statusJson, TerminalSizes } from './remotecommand.ts';

/**
 * remotecommand over WebSocket (RFC 6455), as the kubelet's streaming server also serves it: one
 * connection, each message's first byte its channel (0 stdin, 1 stdout, 2 stderr, 3 error,
 * 4 resize), binary messages, or text ones with the channel as a digit and the data in base64
 * for the `base64.` protocols.
 */

export const webSocketProtocols = ['v4.channel.k8s.io', 'v4.base64.channel.k8s.io', 'channel.k8s.io', 'base64.channel.k8s.io'];

const acceptGuid = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** Whether a request asks for a WebSocket upgrade. */
export function isWebSocketRequest(req: IncomingMessage): boolean {
  return String(req.headers.upgrade ?? '').toLowerCase() === 'websocket';
}

/**
 * Answers the handshake: the 101 with Sec-WebSocket-Accept and the first offered protocol berth
 * knows (none offered: `channel.k8s.io`'s binary framing). Undefined, with a 400 written, when the
 * request is no valid WebSocket handshake or offers only protocols berth does not know.
 */
export function acceptWebSocket(req: IncomingMessage, socket: Socket): { protocol: string } | undefined {
  const key = String(req.headers['sec-websocket-key'] ?? '');
  const offered = String(req.headers['sec-websocket-protocol'] ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  const protocol = offered.length === 0 ? '' : offered.find((p) => webSocketProtocols.includes(p));
  if (req.method !== 'GET' || req.headers['sec-websocket-version'] !== '13' || Buffer.from(key, 'base64').length !== 16 || protocol === undefined) {
    const text = `unable to upgrade: not a WebSocket handshake berth takes (GET, version 13, a key, one of ${webSocketProtocols.join(', ')})\n`;
    socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
    return undefined;
  }
  const accept = createHash('sha1')
    .update(key + acceptGuid)
    .digest('base64');
  const lines = ['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${accept}`];
  if (protocol) lines.push(`Sec-WebSocket-Protocol: ${protocol}`);
  socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  return { protocol };
}

const Op = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;

/**
 * The server side of a WebSocket connection: whole messages out of frames (a client's must be
 * masked; fragments joined up to maxMessage), PING answered, CLOSE answered and the socket ended.
 * A protocol error closes with 1002, a message too big with 1009. Events: 'message'
 * (data, binary), 'close'.
 */
export class WebSocketConnection extends EventEmitter {
  private buf: Buffer = Buffer.alloc(0);
  private fragments: Buffer[] = [];
  private fragmentsLength = 0;
  private fragmentBinary = true;
  closed = false;

  constructor(
    private readonly socket: Socket,
    private readonly maxMessage: number,
    idleTimeoutMs: number,
  ) {
    super();
    socket.setNoDelay(true);
    socket.setTimeout(idleTimeoutMs, () => this.close(1000));
    socket.on('data', (c: Buffer) => this.onData(c));
    socket.on('error', () => this.destroy());
    socket.on('close', () => this.destroy());
    socket.on('end', () => this.destroy());
  }

  feed(head: Buffer): void {
    if (head.length > 0) this.onData(head);
  }

  private onData(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    while (!this.closed && this.buf.length >= 2) {
      const b0 = this.buf[0]!;
      const b1 = this.buf[1]!;
      const fin = (b0 & 0x80) !== 0;
      const op = b0 & 0x0f;
      const masked = (b1 & 0x80) !== 0;
      let len = b1 & 0x7f;
      let at = 2;
      if (len === 126) {
        if (this.buf.length < 4) return;
        len = this.buf.readUInt16BE(2);
        at = 4;
      } else if (len === 127) {
        if (this.buf.length < 10) return;
        const big = this.buf.readBigUInt64BE(2);
        if (big > BigInt(this.maxMessage)) {
          this.close(1009);
          return;
        }
        len = Number(big);
        at = 10;
      }
      if ((b0 & 0x70) !== 0 || !masked) {
        this.close(1002);
        return;
      } // no extensions; a client masks
      if (len > this.maxMessage) {
        this.close(1009);
        return;
      }
      if (this.buf.length < at + 4 + len) return;
      const mask = this.buf.subarray(at, at + 4);
      const payload = Buffer.from(this.buf.subarray(at + 4, at + 4 + len));
      for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i & 3]!;
      this.buf = this.buf.subarray(at + 4 + len);
      this.onFrame(fin, op, payload);
    }
  }

  private onFrame(fin: boolean, op: number, payload: Buffer): void {
    if (op >= 8) {
      if (!fin || payload.length > 125) {
        this.close(1002);
        return;
      }
      if (op === Op.ping) this.frame(Op.pong, payload);
      else if (op === Op.close) this.close(1000);
      else if (op !== Op.pong) this.close(1002);
      return;
    }
    if (op === Op.continuation) {
      if (this.fragments.length === 0) {
        this.close(1002);
        return;
      }
    } else if (op === Op.text || op === Op.binary) {
      if (this.fragments.length > 0) {
        this.close(1002);
        return;
      }
      this.fragmentBinary = op === Op.binary;
    } else {
      this.close(1002);
      return;
    }
    this.fragments.push(payload);
    this.fragmentsLength += payload.length;
    if (this.fragmentsLength > this.maxMessage) {
      this.close(1009);
      return;
    }
    if (!fin) return;
    const message = Buffer.concat(this.fragments);
    this.fragments = [];
    this.fragmentsLength = 0;
    this.emit('message', message, this.fragmentBinary);
  }

  private frame(op: number, payload: Buffer): boolean {
    if (this.closed || this.socket.destroyed) return true;
    const len = payload.length;
    const head = len < 126 ? Buffer.alloc(2) : len < 0x10000 ? Buffer.alloc(4) : Buffer.alloc(10);
    head[0] = 0x80 | op;
    if (len < 126) head[1] = len;
    else if (len < 0x10000) {
      head[1] = 126;
      head.writeUInt16BE(len, 2);
    } else {
      head[1] = 127;
      head.writeBigUInt64BE(BigInt(len), 2);
    }
    return this.socket.write(Buffer.concat([head, payload]));
  }

  /** Sends a message; resolves once the socket takes more. */
  send(data: Buffer | string, binary: boolean): Promise<void> {
    const payload = Buffer.isBuffer(data) ? data : Buffer.from(data, 'utf8');
    if (this.frame(binary ? Op.binary : Op.text, payload) || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }

  /** Sends CLOSE with the status code, then ends the socket. */
  close(code: number): void {
    if (this.closed) return;
    const body = Buffer.alloc(2);
    body.writeUInt16BE(code, 0);
    this.frame(Op.close, body);
    this.socket.end();
    this.destroy();
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    setTimeout(() => this.socket.destroy(), 5000).unref();
    this.emit('close');
  }
}

const channel = { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4 } as const;

/**
 * Serves one remotecommand session over a WebSocket: an empty message on the lowest channel the
 * server writes tells the client it is ready (as the kubelet's does), the command runs with the
 * channels, then the error channel says how it ended (v4: a metav1.Status) and the connection
 * closes. stdin ends when the client closes the connection (these protocols cannot close one
 * channel alone).
 */
export async function serveRemoteCommandWs(
  ws: WebSocketConnection,
  protocol: string,
  opts: StreamOptions,
  command: string[],
  run: CommandRunner,
): Promise<void> {
  const base64 = protocol.includes('base64.');
  const v4 = protocol.startsWith('v4.');
  const abort = new AbortController();
  ws.once('close', () => abort.abort());
  const send = (ch: number, data: Buffer) =>
    base64 ? ws.send(String(ch) + data.toString('base64'), false) : ws.send(Buffer.concat([Buffer.from([ch]), data]), true);
  const writer = (ch: number) =>
    new Writable({
      write: (chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void) => {
        send(ch, chunk).then(() => cb(), cb);
      },
    });
  const stdin = opts.stdin ? new PassThrough() : null;
  const resize = new PassThrough();
  const sizes = new TerminalSizes(resize);
  ws.on('message', (message: Buffer, binary: boolean) => {
    if (message.length === 0) return;
    const ch = binary ? message[0]! : message[0]! - 0x30;
    const data = binary ? message.subarray(1) : Buffer.from(message.subarray(1).toString('latin1'), 'base64');
    if (ch === channel.stdin) stdin?.write(data);
    else if (ch === channel.resize) resize.write(data);
  });
  ws.once('close', () => {
    stdin?.end();
    resize.end();
  });
  const stdout = opts.stdout ? writer(channel.stdout) : null;
  const stderr = opts.stderr && !opts.tty ? writer(channel.stderr) : null;
  await send(opts.stdout ? channel.stdout : opts.stderr ? channel.stderr : channel.error, Buffer.alloc(0));
  let failure: Error | undefined;
  try {
    const code = await run(
      {
        stdin,
        stdout,
        stderr,
        tty: opts.tty,
        onResize: (fn) => sizes.onResize(fn),
        firstSize: (ms) => sizes.firstSize(ms),
      },
      abort.signal,
    );
    if (code !== 0) failure = new ExitCodeError(code, command);
  } catch (err) {
    failure = err as Error;
  }
  if (abort.signal.aborted) return;
  await Promise.all([stdout, stderr].map((w) => (w ? new Promise<void>((r) => w.end(r)) : undefined)));
  if (v4) await send(channel.error, Buffer.from(statusJson(failure)));
  else if (failure) await send(channel.error, Buffer.from(failure.message));
  ws.close(1000);
}
