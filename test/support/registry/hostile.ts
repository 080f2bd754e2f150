import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A misbehaving registry on 127.0.0.1: each test installs handlers for exact paths
 * (`/v2/bad/blobs/sha256:…`) and reads back what the client sent. Unknown paths get 404 with a
 * registry error document.
 */
export type Handler = (req: IncomingMessage, res: ServerResponse, nth: number) => void;

export interface Hostile {
  host: string;
  origin: string;
  /** method, path and headers of every request, in order */
  requests: { method: string; path: string; headers: IncomingMessage['headers'] }[];
  route(method: string, path: string, h: Handler): void;
  close(): Promise<void>;
}

export async function startHostile(): Promise<Hostile> {
  const routes = new Map<string, Handler>();
  const counts = new Map<string, number>();
  const requests: Hostile['requests'] = [];
  const server = createServer((req, res) => {
    const path = req.url ?? '/';
    requests.push({ method: req.method ?? '', path, headers: req.headers });
    const key = `${req.method} ${path.split('?')[0]}`;
    const h = routes.get(key);
    const nth = (counts.get(key) ?? 0) + 1;
    counts.set(key, nth);
    if (h) return h(req, res, nth);
    if (path === '/v2/') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    host,
    origin: `http://${host}`,
    requests,
    route: (method, path, h) => {
      routes.set(`${method} ${path}`, h);
      counts.delete(`${method} ${path}`);
    },
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Writes part of a body promised longer, then cuts the connection. */
export function cutAfter(res: ServerResponse, headers: Record<string, string | number>, bytes: Buffer, status = 200): void {
  res.writeHead(status, headers);
  res.write(bytes, () => setTimeout(() => res.socket?.destroy(), 20));
}
