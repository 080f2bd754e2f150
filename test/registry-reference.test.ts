import { describe, expect, it } from 'vitest';
import { familiarReference, formatReference, parseReference } from '../core/registry/reference.ts';
import { errorCode } from './support/util.ts';

const D = `sha256:${'a'.repeat(64)}`;

describe('registry references', () => {
  it.each([
    ['busybox', 'docker.io/library/busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36'],
    ['library/busybox', 'docker.io/library/busybox:latest'],
    ['me/app:v1', 'docker.io/me/app:v1'],
    ['index.docker.io/me/app', 'docker.io/me/app:latest'],
    ['docker.io/busybox', 'docker.io/library/busybox:latest'],
    ['localhost/x', 'localhost/x:latest'],
    ['localhost:5000/x', 'localhost:5000/x:latest'],
    ['127.0.0.1:5000/a/b:t', '127.0.0.1:5000/a/b:t'],
    [`127.0.0.1:5000/a/b:t@${D}`, `127.0.0.1:5000/a/b@${D}`],
    [`busybox@${D}`, `docker.io/library/busybox@${D}`],
    ['ghcr.io/o/r/deep/path:1.0-rc_1', 'ghcr.io/o/r/deep/path:1.0-rc_1'],
    ['a__b-c/e.f', 'docker.io/a__b-c/e.f:latest'],
  ])('%s → %s', (input, want) => {
    expect(formatReference(parseReference(input))).toBe(want);
  });

  it('splits domain, path, tag and digest', () => {
    expect(parseReference(`127.0.0.1:5000/a/b:t@${D}`)).toEqual({ domain: '127.0.0.1:5000', path: 'a/b', tag: 't', digest: D });
    expect(parseReference('busybox')).toEqual({ domain: 'docker.io', path: 'library/busybox', tag: 'latest' });
    expect(parseReference('localhost:5000/x')).toEqual({ domain: 'localhost:5000', path: 'x', tag: 'latest' });
  });

  it('familiar forms', () => {
    expect(familiarReference(parseReference('busybox'))).toBe('busybox:latest');
    expect(familiarReference(parseReference('me/app:1'))).toBe('me/app:1');
    expect(familiarReference(parseReference('127.0.0.1:5000/a:1'))).toBe('127.0.0.1:5000/a:1');
    // shortened, these would name the registries r.io and localhost
    expect(familiarReference(parseReference('index.docker.io/r.io/me/app'))).toBe('docker.io/r.io/me/app:latest');
    expect(familiarReference(parseReference('docker.io/localhost/app:1'))).toBe('docker.io/localhost/app:1');
  });

  it.each([
    '',
    'Busybox',
    'UPPER/case',
    'busybox:',
    'busybox:-bad',
    'a//b',
    '/abs',
    'busybox@sha256:abc',
    `busybox@md5:${'a'.repeat(32)}`,
    `busybox@sha256:${'A'.repeat(64)}`,
    'busybox@sha256:../../../../tmp/PWN',
    'a'.repeat(64),
    'bad_domain_:5000/x',
    `x/${'y'.repeat(260)}`,
    `busybox:${'t'.repeat(129)}`,
    'ex ample/x',
  ])('rejects %j with InvalidArgument', async (input) => {
    expect(await errorCode(Promise.resolve().then(() => parseReference(input)))).toBe('InvalidArgument');
  });

  it('names the reference in the message', () => {
    expect(() => parseReference('Busybox')).toThrow(/invalid reference "Busybox": repository name must be lowercase/);
  });
});
