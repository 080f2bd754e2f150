import { BerthError } from '../errors.ts';
import { loadDockerConfig } from './credentials.ts';
import type { Transport } from './transport.ts';
import { readLimited } from './transport.ts';

/**
 * Registry authentication as containerd's docker authorizer does it: nothing is sent until a
 * registry answers 401 with a `WWW-Authenticate` challenge; then Basic (with credentials) or a
 * Bearer token fetched from the challenge's realm for the request's scopes. Tokens are kept per
 * host and scope set until they expire or a registry refuses them.
 */
export interface Credentials {
  username: string;
  password: string;
}

/** Credentials for a registry domain (`docker.io`, `127.0.0.1:5000`), if any. */
export type CredentialsFor = (domain: string) => Credentials | undefined;

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses `WWW-Authenticate` values: `Bearer realm="…",service="…",scope="…"`, `Basic realm=…`. */
export function parseChallenges(values: string | string[] | undefined): Challenge[] {
  const out: Challenge[] = [];
  for (const v of Array.isArray(values) ? values : values ? [values] : []) {
    const m = /^\s*([A-Za-z][\w-]*)\s*(.*)$/.exec(v);
    if (!m) continue;
    const params: Record<string, string> = {};
    const re = /([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?\s*/gy;
    re.lastIndex = 0;
    const rest = m[2];
    let p: RegExpExecArray | null;
    while ((p = re.exec(rest))) params[p[1].toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3];
    out.push({ scheme: m[1].toLowerCase(), params });
  }
  // Bearer before Basic, as containerd prefers it.
  return out.sort((a, b) => Number(b.scheme === 'bearer') - Number(a.scheme === 'bearer'));
}

interface HostAuth {
  scheme: 'basic' | 'bearer';
  realm?: string;
  service?: string;
  /** scopes the challenge named; added to every token request */
  scopes: string[];
  tokens: Map<string, { value: Promise<string>; expires: number }>;
}

const tokenResponseLimit = 1 << 20;

export class Authorizer {
  private readonly hosts = new Map<string, HostAuth>();
  /** how many tokens were fetched (tests check reuse) */
  tokenFetches = 0;

  private readonly transport: Transport;
  private readonly credentials: CredentialsFor;

  constructor(transport: Transport, credentials: CredentialsFor = () => undefined) {
    this.transport = transport;
    this.credentials = credentials;
  }

  /** The Authorization header for a request to `host` (the registry's domain) with these scopes. */
  async header(domain: string, scopes: string[]): Promise<string | undefined> {
    const h = this.hosts.get(domain);
    if (!h) return undefined;
    if (h.scheme === 'basic') {
      const c = this.credentials(domain);
      return c ? `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}` : undefined;
    }
    const all = [...new Set([...scopes, ...h.scopes])].sort();
    const key = all.join(' ');
    const cached = h.tokens.get(key);
    if (cached && cached.expires > Date.now()) return `Bearer ${await cached.value}`;
    const value = this.fetchToken(domain, h, all);
    const entry = { value, expires: Number.POSITIVE_INFINITY };
    h.tokens.set(key, entry);
    try {
      return `Bearer ${await value}`;
    } catch (err) {
      h.tokens.delete(key);
      throw err;
    }
  }

  /**
   * Learns from a 401. `sent` is the Authorization header the refused request carried. Returns
   * whether a retry can succeed; false means the credentials (or token) were refused.
   */
  challenged(domain: string, scopes: string[], wwwAuthenticate: string | string[] | undefined, sent: string | undefined): boolean {
    const challenges = parseChallenges(wwwAuthenticate);
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    const basic = challenges.find((c) => c.scheme === 'basic');
    const known = this.hosts.get(domain);
    if (bearer) {
      if (!bearer.params.realm) throw new BerthError('Unauthenticated', `${domain}: bearer challenge without a realm`);
      const scopes2 = bearer.params.scope ? bearer.params.scope.split(' ') : [];
      if (known?.scheme === 'bearer' && sent?.startsWith('Bearer ')) {
        // A token was refused: drop it so the next attempt fetches a fresh one.
        const key = [...new Set([...scopes, ...known.scopes])].sort().join(' ');
        known.tokens.delete(key);
        known.scopes = [...new Set([...known.scopes, ...scopes2])];
        return true;
      }
      this.hosts.set(domain, { scheme: 'bearer', realm: bearer.params.realm, service: bearer.params.service, scopes: scopes2, tokens: new Map() });
      return true;
    }
    if (basic) {
      if (sent?.startsWith('Basic ')) return false;
      if (!this.credentials(domain)) return false;
      this.hosts.set(domain, { scheme: 'basic', scopes: [], tokens: new Map() });
      return true;
    }
    return false;
  }

  private async fetchToken(domain: string, h: HostAuth, scopes: string[]): Promise<string> {
    this.tokenFetches++;
    const url = new URL(h.realm!);
    if (h.service) url.searchParams.set('service', h.service);
    for (const s of scopes) url.searchParams.append('scope', s);
    const headers: Record<string, string> = { accept: 'application/json' };
    const c = this.credentials(domain);
    if (c && url.protocol === 'http:' && new URL(this.transport.origin).protocol === 'https:') {
      throw new BerthError(
        'Unauthenticated',
        `${domain}: refusing to send the credentials of ${c.username} to the token realm ${url.origin} over plain HTTP (the registry itself is https)`,
      );
    }
    if (c) headers.authorization = `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
    const res = await this.transport.send({ method: 'GET', url, headers });
    const body = await readLimited(res.body, tokenResponseLimit, `token response from ${url.host}`);
    if (res.status === 401 || res.status === 403) {
      throw new BerthError(
        'Unauthenticated',
        `${domain}: unauthorized: the token server ${url.host} refused ${c ? `the credentials of ${c.username}` : 'anonymous access'}`,
      );
    }
    if (res.status < 200 || res.status >= 300) throw new BerthError('Unavailable', `${domain}: token server ${url.host} answered ${res.status}`);
    let json: { token?: string; access_token?: string; expires_in?: number };
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch {
      throw new BerthError('Unauthenticated', `${domain}: token server ${url.host} sent invalid JSON`);
    }
    const token = json.access_token || json.token;
    if (!token) throw new BerthError('Unauthenticated', `${domain}: token server ${url.host} sent no token`);
    const key = scopes.join(' ');
    const entry = h.tokens.get(key);
    // Tokens live at least 60 s per the token spec; renew a little early.
    if (entry) entry.expires = Date.now() + Math.max(10, (json.expires_in ?? 60) - 5) * 1000;
    return token;
  }
}

/** Static credentials for every registry (`--user user:pass`). */
export function userPass(spec: string): CredentialsFor {
  const i = spec.indexOf(':');
  if (i <= 0) throw new BerthError('InvalidArgument', 'credentials must be given as user:password');
  const c = { username: spec.slice(0, i), password: spec.slice(i + 1) };
  return () => c;
}

/**
 * Credentials from a Docker config file (`~/.docker/config.json`: `auths[host].auth` is
 * base64 `user:pass`; Docker Hub is keyed `https://index.docker.io/v1/`). Credential helpers
 * are not run. A missing file gives none; a malformed one throws.
 */
export function dockerConfigCredentials(file: string): CredentialsFor {
  const config = loadDockerConfig(file);
  return (domain) => config?.lookup(domain).credentials;
}
