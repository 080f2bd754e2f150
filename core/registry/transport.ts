import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import { getCACertificates } from 'node:tls';
import { BerthError } from '../errors.ts';
import type { HostOptions } from './hosts.ts';

/**
 * HTTP on node:http/node:https: per-registry TLS (custom CA, skip-verify) needs an Agent, which
 * the global fetch cannot take without the undici package; bodies stream both ways with
 * backpressure, and redirects are followed here so credentials never cross origins: a redirect
 * to another scheme, host or port carries only the headers that describe what is asked for
 * (Accept, Range), and the client certificate is presented to the transport's own origin only.
 */
export interface HttpRequest {
  method: string;
  url: URL;
  headers: Record<string, string | string[]>;
  /** called once per attempt, so a request can be re-sent after a 401 or a redirect */
  body?: () => Readable | Buffer;
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
  /** the URL that answered, after redirects */
  url: URL;
}

const maxRedirects = 10;
/** what a request keeps when a redirect takes it to another origin: no Authorization, Cookie or configured header */
const crossOriginHeaders = new Set(['accept', 'range']);
const tlsCodes = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL|EPROTO|HOSTNAME/;

export class Transport {
  private readonly agents = new Map<string, http.Agent>();
  private readonly tls: HostOptions;
  private readonly timeoutMs: number;

  /**
   * @param origin the registry host this transport serves (`https://host:port`): the only origin
   *   its client certificates are presented to
   */
  constructor(
    readonly origin: string,
    tls: HostOptions = {},
    timeoutMs = 60_000,
  ) {
    this.tls = tls;
    this.timeoutMs = timeoutMs;
  }

  private agent(url: URL): http.Agent {
    const certs = url.protocol === 'https:' && url.origin === this.origin && this.tls.clientCerts?.length ? this.tls.clientCerts : undefined;
    const key = `${url.protocol}${certs ? ' with client certificates' : ''}`;
    let a = this.agents.get(key);
    if (!a) {
      a =
        url.protocol === 'https:'
          ? new https.Agent({
              keepAlive: true,
              maxSockets: 16,
              ca: trustedRoots(this.tls.ca),
              rejectUnauthorized: !this.tls.skipVerify,
              ...(certs ? { cert: certs.map((c) => c.cert), key: certs.map((c) => c.key) } : {}),
            })
          : new http.Agent({ keepAlive: true, maxSockets: 16 });
      this.agents.set(key, a);
    }
    return a;
  }

  /** Sends one request, following redirects (a change of origin drops every credential, for the rest of the chain). */
  async send(req: HttpRequest): Promise<HttpResponse> {
    let url = req.url;
    let headers = req.headers;
    const method = req.method;
    for (let hop = 0; ; hop++) {
      const res = await this.once({ ...req, method, url, headers });
      const location = res.headers.location;
      if (![301, 302, 303, 307, 308].includes(res.status) || !location || !['GET', 'HEAD'].includes(method)) {
        return { ...res, url };
      }
      res.body.resume();
      if (hop >= maxRedirects) throw new BerthError('Unavailable', `${req.url.host}: stopped after ${maxRedirects} redirects`);
      const next = new URL(location, url);
      if (next.protocol !== 'http:' && next.protocol !== 'https:')
        throw new BerthError('Unavailable', `${req.url.host}: redirect to unsupported URL ${next.protocol}`);
      if (next.origin !== url.origin) {
        headers = Object.fromEntries(Object.entries(headers).filter(([k]) => crossOriginHeaders.has(k.toLowerCase())));
      }
      url = next;
    }
  }

  private once(req: HttpRequest): Promise<HttpResponse> {
    const mod = req.url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const body = req.body?.();
      const headers: Record<string, string | string[]> = { 'user-agent': 'berth/0.1', ...req.headers };
      if (Buffer.isBuffer(body)) headers['content-length'] = String(body.length);
      const r = mod.request(req.url, { method: req.method, headers, agent: this.agent(req.url), signal: req.signal, timeout: this.timeoutMs });
      r.on('timeout', () => r.destroy(new BerthError('Unavailable', `${req.url.host}: no response for ${this.timeoutMs} ms`)));
      const dial = this.tls.dialTimeoutMs;
      if (dial !== undefined && dial > 0) {
        r.on('socket', (sock) => {
          if (!sock.connecting) return;
          const t = setTimeout(() => r.destroy(new BerthError('Unavailable', `registry ${req.url.host} unreachable: no connection within ${dial} ms`)), dial);
          sock.once('connect', () => clearTimeout(t));
          sock.once('close', () => clearTimeout(t));
        });
      }
      r.on('error', (err) => {
        if (body instanceof Readable) body.destroy();
        reject(transportError(req.url, err));
      });
      r.on('response', (res) => {
        // An idle body (stalled server) fails the stream rather than hanging the reader.
        res.setTimeout(this.timeoutMs, () => res.destroy(new BerthError('Unavailable', `${req.url.host}: body stalled for ${this.timeoutMs} ms`)));
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res, url: req.url });
      });
      if (body === undefined) r.end();
      else if (Buffer.isBuffer(body)) r.end(body);
      else {
        body.on('error', (err) => r.destroy(err));
        body.pipe(r);
      }
    });
  }

  close(): void {
    for (const a of this.agents.values()) a.destroy();
    this.agents.clear();
  }
}

/**
 * The trusted roots: Node's bundled ones, the system store (/etc/ssl/certs: what a user adds
 * there should work as with containerd) and the custom CA if any. Giving `ca` replaces Node's
 * defaults, so they are listed again.
 */
let systemRoots: string[] | undefined;
function trustedRoots(extra?: string | Buffer): string[] {
  if (!systemRoots) {
    const set = new Set<string>(getCACertificates('default'));
    try {
      for (const c of getCACertificates('system')) set.add(c);
    } catch {
      // no system store readable: Node's bundle only
    }
    systemRoots = [...set];
  }
  return extra === undefined ? systemRoots : [...systemRoots, extra.toString()];
}

export function transportError(url: URL, err: unknown): BerthError {
  if (err instanceof BerthError) return err;
  const e = err as NodeJS.ErrnoException;
  const code = e.code ?? '';
  const host = url.host;
  const ssl = /SSL routines:[^:]*:([^:]+):/.exec(e.message);
  if (ssl) e.message = ssl[1];
  e.message = e.message.replace(/\s+/g, ' ').trim();
  if (e.name === 'AbortError' || code === 'ABORT_ERR') return new BerthError('Canceled', `${host}: request canceled`, { cause: err });
  if (tlsCodes.test(code) || /certificate|ssl|tls/i.test(e.message)) {
    const hint = /wrong version number|packet length too long/i.test(e.message)
      ? ' (the registry may speak plain HTTP: use --plain-http)'
      : ' (trust its CA with --tls-ca or ca in its hosts.toml, or --skip-verify)';
    return new BerthError('Unavailable', `${host}: TLS failure: ${e.message}${hint}`, { cause: err });
  }
  if (['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT'].includes(code)) {
    return new BerthError('Unavailable', `registry ${host} unreachable: ${e.message}`, { cause: err });
  }
  if (['ECONNRESET', 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE'].includes(code) || e.message === 'aborted') {
    return new BerthError('Unavailable', `${host}: connection closed: ${e.message}`, { cause: err });
  }
  return new BerthError('Unavailable', `${host}: ${e.message}`, { cause: err });
}

/** Reads at most `limit` bytes of a body (for error documents and manifests). */
export async function readLimited(body: Readable, limit: number, what: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const chunk of body) {
    n += (chunk as Buffer).length;
    if (n > limit) {
      body.destroy();
      throw new BerthError('FailedPrecondition', `${what} is over the ${limit} byte limit`);
    }
    parts.push(chunk as Buffer);
  }
  return Buffer.concat(parts);
}
