import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dockerConfigCredentials, parseChallenges, userPass } from '../core/registry/auth.ts';
import { endpointFor, isLoopback } from '../core/registry/hosts.ts';

describe('registry auth and hosts (units)', () => {
  it('parses WWW-Authenticate challenges, bearer first', () => {
    expect(
      parseChallenges(['Basic realm="r"', 'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"']),
    ).toEqual([
      { scheme: 'bearer', params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull,push' } },
      { scheme: 'basic', params: { realm: 'r' } },
    ]);
    expect(parseChallenges('Bearer realm=http://127.0.0.1:1/t, service=svc, error="invalid_token"')).toEqual([
      { scheme: 'bearer', params: { realm: 'http://127.0.0.1:1/t', service: 'svc', error: 'invalid_token' } },
    ]);
    expect(parseChallenges('Basic realm="a \\"quoted\\" realm"')[0].params.realm).toBe('a "quoted" realm');
    expect(parseChallenges(undefined)).toEqual([]);
  });

  it('user:pass', () => {
    expect(userPass('u:p:with:colons')('any')).toEqual({ username: 'u', password: 'p:with:colons' });
    expect(() => userPass('nocolon')).toThrow(/user:password/);
  });

  it('reads Docker config credentials, Docker Hub under its legacy key', () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-auth-'));
    try {
      const file = join(dir, 'config.json');
      writeFileSync(
        file,
        JSON.stringify({
          auths: {
            'https://index.docker.io/v1/': { auth: Buffer.from('hub:pw').toString('base64') },
            '127.0.0.1:5000': { username: 'local', password: 'pw2' },
          },
        }),
      );
      const creds = dockerConfigCredentials(file);
      expect(creds('docker.io')).toEqual({ username: 'hub', password: 'pw' });
      expect(creds('127.0.0.1:5000')).toEqual({ username: 'local', password: 'pw2' });
      expect(creds('ghcr.io')).toBeUndefined();
      expect(dockerConfigCredentials(join(dir, 'missing.json'))('docker.io')).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('plain HTTP for loopback unless TLS is asked for; docker.io goes to registry-1', () => {
    expect(isLoopback('localhost:5000')).toBe(true);
    expect(isLoopback('127.0.0.1')).toBe(true);
    expect(isLoopback('127.1.2.3:80')).toBe(true);
    expect(isLoopback('[::1]:5000')).toBe(true);
    expect(isLoopback('example.com:5000')).toBe(false);
    expect(isLoopback('10.0.0.1:5000')).toBe(false);
    expect(endpointFor('docker.io')).toEqual({ scheme: 'https', host: 'registry-1.docker.io', domain: 'docker.io' });
    expect(endpointFor('127.0.0.1:5000').scheme).toBe('http');
    expect(endpointFor('127.0.0.1:5000', { ca: 'PEM' }).scheme).toBe('https');
    expect(endpointFor('127.0.0.1:5000', { plainHttp: false }).scheme).toBe('https');
    expect(endpointFor('registry.example:5000', { plainHttp: true }).scheme).toBe('http');
    expect(endpointFor('registry.example').scheme).toBe('https');
  });
});
