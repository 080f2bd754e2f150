import type { Socket } from 'node:net';
import type { SpdySession, SpdyStream } from './session.ts';

/**
 * Kubernetes' portforward subprotocol over SPDY (portforward.k8s.io, the kubelet's
 * portforward/httpstream.go; client-go's tools/portforward): for each connection the client
 * opens an `error` and a `data` stream with the same `requestID` and the pod's `port`; berth
 * connects to that port in the pod and copies both ways; errors go to the error stream as text.
 */

export const portForwardProtocols = ['portforward.k8s.io'];

/** Connects to a port of the pod (127.0.0.1 in its network namespace). */
export type PortDialer = (port: number) => Promise<Socket>;

interface Pair {
  error?: SpdyStream;
  data?: SpdyStream;
  timer: NodeJS.Timeout;
}

/**
 * Serves one portforward session until the client ends it. A pair whose other half does not come
 * within pairTimeoutMs is dropped, as are streams with a bad port or type.
 */
export function servePortForward(session: SpdySession, dial: PortDialer, onError: (message: string) => void, pairTimeoutMs = 30_000): void {
  const pairs = new Map<string, Pair>();
  session.on('close', () => {
    for (const p of pairs.values()) clearTimeout(p.timer);
    pairs.clear();
  });
  session.on('stream', (s: SpdyStream) => {
    s.on('error', () => undefined);
    const type = s.header('streamtype');
    const portText = s.header('port');
    const port = /^\d{1,5}$/.test(portText) ? Number(portText) : 0;
    if ((type !== 'error' && type !== 'data') || port < 1 || port > 65535) {
      onError(`a portforward stream of type ${JSON.stringify(type)} for port ${JSON.stringify(portText)}`);
      s.destroy();
      return;
    }
    // without a requestID, the kubelet pairs a data stream with the error stream opened just before
    const requestId = s.header('requestid') || String(type === 'data' ? s.id - 2 : s.id);
    const key = `${requestId}/${port}`;
    let pair = pairs.get(key);
    if (!pair) {
      const timer = setTimeout(() => {
        pairs.delete(key);
        pair?.error?.end(`timed out waiting for the other stream of request ${requestId}`);
        pair?.data?.destroy();
      }, pairTimeoutMs);
      pair = { timer };
      pairs.set(key, pair);
    }
    if (pair[type]) {
      onError(`two ${type} streams for request ${requestId}`);
      s.destroy();
      return;
    }
    pair[type] = s;
    if (pair.error && pair.data) {
      clearTimeout(pair.timer);
      pairs.delete(key);
      // the client closes its side of the error stream at once; it only reads from it
      pair.error.resume();
      forward(pair.error, pair.data, port, dial, onError);
    }
  });
}

function forward(errorStream: SpdyStream, data: SpdyStream, port: number, dial: PortDialer, onError: (message: string) => void): void {
  const fail = (message: string) => {
    onError(message);
    if (!errorStream.writableEnded) errorStream.end(message);
    if (!data.writableEnded) data.end();
  };
  dial(port).then(
    (conn) => {
      if (data.destroyed) {
        conn.destroy();
        return;
      }
      // once one direction is done the other gets a second to finish (as containerd's
      // portForward), then both streams end: the client waits for the error stream's end
      let done = 0;
      let closed = false;
      let grace: NodeJS.Timeout | undefined;
      const close = () => {
        if (closed) return;
        closed = true;
        clearTimeout(grace);
        conn.destroy();
        if (!data.writableEnded) data.end();
        if (!errorStream.writableEnded) errorStream.end();
      };
      const finish = () => {
        if (++done >= 2) close();
        else grace ??= setTimeout(close, 1000);
      };
      conn.on('error', (err) => {
        if (!closed) fail(`port ${port}: ${err.message}`);
        close();
      });
      data.on('close', close);
      // each direction ends on its own (half-close), so a request then a reply both get through
      data.pipe(conn);
      conn.pipe(data);
      data.on('end', finish);
      conn.on('end', finish);
    },
    (err: Error) => fail(`failed to connect to port ${port} in the pod: ${err.message}`),
  );
}
