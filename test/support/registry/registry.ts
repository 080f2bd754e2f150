import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { htpasswdLine, makeServerCert, makeSigningCert, type TestCa } from './certs.ts';
import { startTokenServer, type TokenServer, type TokenServerOptions } from './token-server.ts';

/**
 * Debian's docker-registry (CNCF distribution 2.8) on 127.0.0.1 and a free port, storage in a
 * temporary directory, optionally with TLS (a CA made here), htpasswd basic auth, or token auth
 * (a token server started here). stop() ends the process and removes every file.
 */
export interface RegistryOptions {
  tls?: boolean;
  htpasswd?: Record<string, string>;
  token?: Omit<TokenServerOptions, 'signing' | 'service' | 'issuer'>;
}

export interface TestRegistry {
  /** host:port, the domain to put in references */
  host: string;
  url: string;
  dir: string;
  ca?: TestCa;
  tokenServer?: TokenServer;
  /** what the registry printed (for failures) */
  log: () => string;
  stop(): Promise<void>;
}

export const registryBinary = '/usr/bin/docker-registry';

// If a test process ends without its afterAll (a crash, a kill), leave no registry behind.
const live = new Map<ChildProcess, string>();
process.once('exit', () => {
  for (const [child, dir] of live) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

export async function startRegistry(opts: RegistryOptions = {}): Promise<TestRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-registry-'));
  let child: ChildProcess | undefined;
  let tokenServer: TokenServer | undefined;
  const output: Buffer[] = [];
  const stop = async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child!.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    }
    if (child) live.delete(child);
    await tokenServer?.close();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const extra: string[] = [];
    let ca: TestCa | undefined;
    if (opts.tls) {
      ca = await makeServerCert(dir);
      extra.push('  tls:', `    certificate: ${ca.certFile}`, `    key: ${ca.keyFile}`);
    }
    if (opts.htpasswd) {
      const entries = await Promise.all(Object.entries(opts.htpasswd).map(([u, p]) => htpasswdLine(u, p)));
      await writeFile(join(dir, 'htpasswd'), `${entries.join('\n')}\n`);
      extra.push('auth:', '  htpasswd:', '    realm: berth-test', `    path: ${join(dir, 'htpasswd')}`);
    } else if (opts.token) {
      const signing = await makeSigningCert(dir);
      tokenServer = await startTokenServer({ ...opts.token, signing, service: 'berth-test-registry', issuer: 'berth-test-issuer' });
      extra.push(
        'auth:',
        '  token:',
        `    realm: ${tokenServer.realm}`,
        '    service: berth-test-registry',
        '    issuer: berth-test-issuer',
        `    rootcertbundle: ${signing.certFile}`,
      );
    }
    // The free port may be taken by another test before the registry binds it: then try another.
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const host = `127.0.0.1:${port}`;
      const lines = [
        'version: 0.1',
        'log:',
        '  level: warn',
        '  accesslog:',
        '    disabled: true',
        'storage:',
        '  filesystem:',
        `    rootdirectory: ${join(dir, 'data')}`,
        '  delete:',
        '    enabled: true',
        'http:',
        `  addr: ${host}`,
        '  secret: berth-test-secret',
        ...extra,
      ];
      await writeFile(join(dir, 'config.yml'), `${lines.join('\n')}\n`);
      output.length = 0;
      child = spawn(registryBinary, ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'pipe', 'pipe'] });
      live.set(child, dir);
      child.stdout!.on('data', (b: Buffer) => output.push(b));
      child.stderr!.on('data', (b: Buffer) => output.push(b));
      const url = `${opts.tls ? 'https' : 'http'}://${host}`;
      try {
        await waitReady(url, ca?.caPem, child, () => Buffer.concat(output).toString());
      } catch (err) {
        if (attempt < 3 && child.exitCode !== null && /address already in use/.test(Buffer.concat(output).toString())) {
          live.delete(child);
          continue;
        }
        throw err;
      }
      return { host, url, dir, ca, tokenServer, log: () => Buffer.concat(output).toString(), stop };
    }
  } catch (err) {
    await stop();
    throw err;
  }
}

async function waitReady(url: string, ca: string | undefined, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited ${child.exitCode}: ${log()}`);
    const status = await new Promise<number>((resolve) => {
      const req = (url.startsWith('https') ? httpsRequest : request)(`${url}/v2/`, { ca, agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', () => resolve(0));
      req.end();
    });
    if (status === 200 || status === 401) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`docker-registry did not answer on ${url}: ${log()}`);
}
