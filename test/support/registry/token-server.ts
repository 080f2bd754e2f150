import { randomUUID, sign } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SigningCert } from './certs.ts';

/**
 * A token server for docker-registry's `auth: token` (distribution's token spec): GET
 * /token?service=&scope=… answers a JWT signed ES256 with the certificate in its x5c header,
 * which the registry checks against its rootcertbundle. `deny` grants no access (a 401 loop).
 */
export interface TokenServerOptions {
  signing: SigningCert;
  service: string;
  issuer: string;
  /** required basic credentials; anonymous tokens when unset */
  users?: Record<string, string>;
  /** grant nothing: the registry refuses every token */
  deny?: boolean;
  /** issue this many tokens without access first (a token the registry refuses, then a good one) */
  denyFirst?: number;
  /** seconds a token is valid */
  expiresIn?: number;
}

export interface TokenServer {
  realm: string;
  /** every token request seen (scopes asked for, user) */
  requests: { scopes: string[]; user?: string }[];
  options: TokenServerOptions;
  close(): Promise<void>;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

export async function startTokenServer(options: TokenServerOptions): Promise<TokenServer> {
  const requests: TokenServer['requests'] = [];
  let issued = 0;
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const scopes = url.searchParams.getAll('scope');
    const user = basicUser(req);
    requests.push({ scopes, user: user?.[0] });
    if (options.users && (!user || options.users[user[0]] !== user[1])) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"bad credentials"}');
      return;
    }
    const now = Math.floor(Date.now() / 1000);
    const refuse = options.deny || (options.denyFirst ?? 0) > issued++;
    const access = refuse
      ? []
      : scopes.map((s) => {
          const [type, ...rest] = s.split(':');
          const actions = rest.pop() ?? '';
          return { type, name: rest.join(':'), actions: actions.split(',') };
        });
    const claims = {
      iss: options.issuer,
      sub: user?.[0] ?? '',
      aud: options.service,
      exp: now + (options.expiresIn ?? 300),
      nbf: now - 10,
      iat: now,
      jti: randomUUID(),
      access,
    };
    const head = { typ: 'JWT', alg: 'ES256', x5c: [options.signing.certDerB64] };
    const input = `${b64url(JSON.stringify(head))}.${b64url(JSON.stringify(claims))}`;
    const sig = sign('sha256', Buffer.from(input), { key: options.signing.keyPem, dsaEncoding: 'ieee-p1363' });
    const token = `${input}.${b64url(sig)}`;
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ token, access_token: token, expires_in: options.expiresIn ?? 300, issued_at: new Date().toISOString() }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    requests,
    options,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

function basicUser(req: IncomingMessage): [string, string] | undefined {
  const h = req.headers.authorization;
  if (!h?.startsWith('Basic ')) return undefined;
  const plain = Buffer.from(h.slice(6), 'base64').toString('utf8');
  const i = plain.indexOf(':');
  return i < 0 ? undefined : [plain.slice(0, i), plain.slice(i + 1)];
}
