import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { BerthError } from '../../../core/errors.ts';
import type { Logger } from '../../log.ts';
import { type PortDialer, portForwardProtocols, servePortForward } from './portforward.ts';
import { type CommandRunner, remoteCommandProtocols, type StreamOptions, serveRemoteCommand } from './remotecommand.ts';
import { defaultLimits, type SessionLimits, SpdySession } from './session.ts';
import { acceptWebSocket, isWebSocketRequest, serveRemoteCommandWs, WebSocketConnection } from './websocket.ts';

/**
 * The CRI's streaming server (docs/cri.md): Exec, Attach and PortForward answer a URL on it,
 * `http://<address>:<port>/exec/<token>` (…/attach/, …/portforward/), and the kubelet or crictl
 * upgrades a request to that URL to SPDY/3.1 and speaks remotecommand or portforward over it
 * (or, for exec and attach, to a WebSocket with the channel protocols).
 * As the kubelet's server does, a token stands for the request the RPC got (its options come
 * from there, not from the URL): single use, valid for a minute, at most 1000 waiting.
 */

export type StreamRequest =
  | { kind: 'exec'; containerId: string; cmd: string[]; options: StreamOptions }
  | { kind: 'attach'; containerId: string; options: StreamOptions }
  | { kind: 'portforward'; podSandboxId: string };

export interface StreamBackends {
  /** runs cmd in the container with the client's streams: resolves with its exit code */
  exec(containerId: string, cmd: string[], run: Parameters<CommandRunner>[0], signal: AbortSignal): Promise<number>;
  /** attaches the client's streams to the container until it exits or the client goes */
  attach(containerId: string, run: Parameters<CommandRunner>[0], signal: AbortSignal): Promise<number>;
  /** a dialer for the pod's ports */
  dialer(podSandboxId: string): Promise<PortDialer>;
}

export interface StreamingServerOptions {
  address: string;
  port: number;
  idleTimeoutMs: number;
  backends: StreamBackends;
  log: Logger;
  /** how long a token stays valid */
  tokenTtlMs?: number;
  maxTokens?: number;
  /** how long the client has to open its streams */
  streamTimeoutMs?: number;
  limits?: Partial<SessionLimits>;
}

const kinds = { exec: remoteCommandProtocols, attach: remoteCommandProtocols, portforward: portForwardProtocols } as const;

export class StreamingServer {
  private readonly server: Server;
  private readonly tokens = new Map<string, { request: StreamRequest; expires: number }>();
  private readonly sessions = new Set<SpdySession>();
  private readonly webSockets = new Set<WebSocketConnection>();
  private readonly limits: SessionLimits;
  private url = '';

  constructor(private readonly o: StreamingServerOptions) {
    this.limits = { ...defaultLimits, idleTimeoutMs: o.idleTimeoutMs, ...o.limits };
    this.server = createServer({ maxHeaderSize: 16 * 1024, requestTimeout: 30_000 });
    this.server.on('request', (req: IncomingMessage, res: ServerResponse) => this.plainRequest(req, res));
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(req, socket as Socket, head));
    this.server.on('clientError', (_err, socket: Duplex) => socket.destroy());
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.o.port, this.o.address, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const a = this.server.address() as AddressInfo;
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    this.url = `http://${host}:${a.port}/`;
  }

  /** http://address:port/ */
  get baseUrl(): string {
    return this.url;
  }

  /** A URL for the request: its token is good for one connection within the token lifetime. */
  urlFor(request: StreamRequest): string {
    const now = Date.now();
    for (const [t, e] of this.tokens) if (e.expires <= now) this.tokens.delete(t);
    if (this.tokens.size >= (this.o.maxTokens ?? 1000)) throw new BerthError('ResourceExhausted', 'too many streaming requests in flight; try again');
    let token: string;
    do token = randomBytes(6).toString('base64url');
    while (this.tokens.has(token));
    this.tokens.set(token, { request, expires: now + (this.o.tokenTtlMs ?? 60_000) });
    return `${this.url}${request.kind}/${token}`;
  }

  async close(): Promise<void> {
    for (const s of this.sessions) s.destroy();
    for (const ws of this.webSockets) ws.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The request its URL names, once: unknown, used or expired tokens give undefined. */
  private take(url: string | undefined): StreamRequest | undefined | 'not-a-route' {
    const m = /^\/(exec|attach|portforward)\/([A-Za-z0-9_-]+)\/?(?:\?.*)?$/.exec(url ?? '');
    if (!m) return 'not-a-route';
    const entry = this.tokens.get(m[2]!);
    this.tokens.delete(m[2]!);
    if (!entry || entry.expires <= Date.now() || entry.request.kind !== m[1]) return undefined;
    return entry.request;
  }

  private plainRequest(req: IncomingMessage, res: ServerResponse): void {
    const found = this.take(req.url);
    const [status, text] = found === 'not-a-route' || found === undefined ? [404, 'not found'] : [400, 'unable to upgrade: missing upgrade headers in request'];
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`${text}\n`);
  }

  private upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on('error', () => undefined);
    const refuse = (status: number, text: string, headers: Array<[string, string]> = []) => {
      const lines = [`HTTP/1.1 ${status} ${statusText[status] ?? 'Error'}`, 'Content-Type: text/plain; charset=utf-8', 'Connection: close'];
      for (const [k, v] of headers) lines.push(`${k}: ${v}`);
      socket.end(`${lines.join('\r\n')}\r\nContent-Length: ${Buffer.byteLength(text) + 1}\r\n\r\n${text}\n`);
    };
    if (req.method !== 'GET' && req.method !== 'POST') {
      refuse(405, 'method not allowed');
      return;
    }
    const request = this.take(req.url);
    if (request === 'not-a-route' || request === undefined) {
      refuse(404, 'not found');
      return;
    }
    if (isWebSocketRequest(req) && request.kind !== 'portforward') {
      this.serveWebSocket(req, socket, head, request);
      return;
    }
    const upgrade = String(req.headers.upgrade ?? '').toLowerCase();
    const connection = String(req.headers.connection ?? '').toLowerCase();
    if (!connection.split(',').some((t) => t.trim() === 'upgrade') || upgrade !== 'spdy/3.1') {
      refuse(400, `unable to upgrade: berth's streaming server speaks SPDY/3.1, not ${JSON.stringify(req.headers.upgrade ?? '')}`);
      return;
    }
    const offered = headerList(req, 'x-stream-protocol-version');
    const supported: readonly string[] = kinds[request.kind];
    let protocol = '';
    if (offered.length > 0) {
      protocol = offered.find((p) => supported.includes(p)) ?? '';
      if (protocol === '') {
        refuse(
          403,
          `unable to upgrade: unable to negotiate protocol: client supports ${JSON.stringify(offered)}, server accepts ${JSON.stringify(supported)}`,
          supported.map((p) => ['X-Accepted-Stream-Protocol-Versions', p]),
        );
        return;
      }
    }
    const reply = ['HTTP/1.1 101 Switching Protocols', 'Connection: Upgrade', 'Upgrade: SPDY/3.1'];
    if (protocol) reply.push(`X-Stream-Protocol-Version: ${protocol}`);
    socket.write(`${reply.join('\r\n')}\r\n\r\n`);
    const session = new SpdySession(socket, this.limits);
    this.sessions.add(session);
    session.on('close', () => this.sessions.delete(session));
    session.on('protocolError', (err: Error) => this.o.log.debug('streaming: a bad frame', { kind: request.kind, error: err.message }));
    session.feed(head);
    this.serve(session, request, protocol);
  }

  private serveWebSocket(req: IncomingMessage, socket: Socket, head: Buffer, request: Exclude<StreamRequest, { kind: 'portforward' }>): void {
    const accepted = acceptWebSocket(req, socket);
    if (!accepted) return;
    const ws = new WebSocketConnection(socket, this.limits.maxFrame, this.limits.idleTimeoutMs);
    this.webSockets.add(ws);
    ws.on('close', () => this.webSockets.delete(ws));
    ws.feed(head);
    const { backends, log } = this.o;
    const run: CommandRunner =
      request.kind === 'exec'
        ? (io, signal) => backends.exec(request.containerId, request.cmd, io, signal)
        : (io, signal) => backends.attach(request.containerId, io, signal);
    serveRemoteCommandWs(ws, accepted.protocol || 'channel.k8s.io', request.options, request.kind === 'exec' ? request.cmd : [], run).catch((err: Error) => {
      log.debug('streaming session ended', { kind: request.kind, container: request.containerId, error: err.message });
      ws.close(1011);
    });
  }

  private serve(session: SpdySession, request: StreamRequest, protocol: string): void {
    const { backends, log } = this.o;
    const timeout = this.o.streamTimeoutMs ?? 30_000;
    if (request.kind === 'portforward') {
      backends.dialer(request.podSandboxId).then(
        (dial) => servePortForward(session, dial, (message) => log.debug('port-forward', { sandbox: request.podSandboxId, error: message }), timeout),
        (err: Error) => {
          log.warn('port-forward', { sandbox: request.podSandboxId, error: err.message });
          session.goAway();
        },
      );
      return;
    }
    const version = protocol || 'channel.k8s.io';
    const run =
      request.kind === 'exec'
        ? (io: Parameters<CommandRunner>[0], signal: AbortSignal) => backends.exec(request.containerId, request.cmd, io, signal)
        : (io: Parameters<CommandRunner>[0], signal: AbortSignal) => backends.attach(request.containerId, io, signal);
    const cmd = request.kind === 'exec' ? request.cmd : [];
    serveRemoteCommand(session, version, request.options, cmd, run, timeout).catch((err: Error) => {
      log.debug('streaming session ended', { kind: request.kind, container: request.containerId, error: err.message });
      session.destroy();
    });
  }
}

const statusText: Record<number, string> = { 400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed' };

/** A header's values, repeated or comma-separated. */
function headerList(req: IncomingMessage, name: string): string[] {
  const raw: string[] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]!.toLowerCase() === name) raw.push(req.rawHeaders[i + 1]!);
  return raw
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '');
}
