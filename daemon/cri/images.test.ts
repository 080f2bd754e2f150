import { describe, expect, it } from 'vitest';
import { credentialsFrom, type PullAuth } from './images.ts';

const none: PullAuth = { username: '', password: '', auth: '', server_address: '', identity_token: '', registry_token: '' };
const alice = { username: 'alice', password: 'pw:with:colons' };

describe("PullImage's credentials (runtime.v1.AuthConfig)", () => {
  it('none without an AuthConfig, or with an empty one, or with only a registry token', () => {
    expect(credentialsFrom(null)).toBeUndefined();
    expect(credentialsFrom(none)).toBeUndefined();
    expect(credentialsFrom({ ...none, registry_token: 'opaque' })).toBeUndefined();
  });

  it('username and password, else auth (base64 of user:password), for every registry', () => {
    expect(credentialsFrom({ ...none, username: 'alice', password: 'pw:with:colons' })!('quay.io')).toEqual(alice);
    const auth = Buffer.from('alice:pw:with:colons').toString('base64');
    expect(credentialsFrom({ ...none, auth })!('127.0.0.1:5000')).toEqual(alice);
    expect(credentialsFrom({ ...none, username: 'alice', password: 'pw:with:colons', auth: Buffer.from('bob:x').toString('base64') })!('x.io')).toEqual(alice);
    expect(() => credentialsFrom({ ...none, auth: Buffer.from('no-colon').toString('base64') })).toThrow(/base64 of "username:password"/);
  });

  it.each([
    ['https://index.docker.io/v1/', 'docker.io', true],
    ['registry-1.docker.io', 'docker.io', true],
    ['http://127.0.0.1:5000', '127.0.0.1:5000', true],
    ['127.0.0.1:5000/v2/', '127.0.0.1:5000', true],
    ['Quay.IO', 'quay.io', true],
    ['127.0.0.1:5000', '127.0.0.1:5001', false],
    ['https://index.docker.io/v1/', 'quay.io', false],
  ])('server_address %s applies to %s: %s', (server_address, domain, applies) => {
    expect(credentialsFrom({ ...none, username: 'alice', password: 'pw:with:colons', server_address })!(domain)).toEqual(applies ? alice : undefined);
  });

  it('an identity token is refused as not implemented', () => {
    expect(() => credentialsFrom({ ...none, identity_token: 'refresh' })).toThrow(expect.objectContaining({ code: 'Unimplemented' }));
  });
});
