import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userPass } from '../core/registry/auth.ts';
import { RegistryClient } from '../core/registry/client.ts';
import { cliCredentials, configKeyHost, dockerConfigPath, loadDockerConfig } from '../core/registry/credentials.ts';
import { parseReference } from '../core/registry/reference.ts';
import { type Berthd, startBerthd } from './support/harness.ts';
import { buildTestImage, pushImage } from './support/registry/images.ts';
import { startRegistry, type TestRegistry } from './support/registry/registry.ts';
import { startTogether } from './support/util.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('Docker config credentials (units)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'berth-creds-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const write = (doc: unknown) => {
    const file = join(dir, 'config.json');
    writeFileSync(file, typeof doc === 'string' ? doc : JSON.stringify(doc));
    return file;
  };

  it('config.json under $DOCKER_CONFIG, else ~/.docker', () => {
    expect(dockerConfigPath({ DOCKER_CONFIG: '/x/y' })).toBe('/x/y/config.json');
    expect(dockerConfigPath({})).toMatch(/\/\.docker\/config\.json$/);
  });

  it("keys as docker login writes them: URLs, host:port, Docker Hub's legacy URL", () => {
    expect(configKeyHost('https://index.docker.io/v1/')).toBe('docker.io');
    expect(configKeyHost('registry-1.docker.io')).toBe('docker.io');
    expect(configKeyHost('http://127.0.0.1:5000/v2/')).toBe('127.0.0.1:5000');
    expect(configKeyHost('Registry.Example.com')).toBe('registry.example.com');
    const file = write({
      auths: {
        'https://index.docker.io/v1/': { auth: b64('hub:pw:with:colons') },
        'http://127.0.0.1:5000': { username: 'local', password: 'pw2' },
        'ghcr.io': { auth: b64('gh:tok'), email: 'ignored@example.com' },
        'empty.example': {},
      },
    });
    const config = loadDockerConfig(file)!;
    expect(config.lookup('docker.io')).toEqual({ credentials: { username: 'hub', password: 'pw:with:colons' } });
    expect(config.lookup('127.0.0.1:5000')).toEqual({ credentials: { username: 'local', password: 'pw2' } });
    expect(config.lookup('ghcr.io')).toEqual({ credentials: { username: 'gh', password: 'tok' } });
    expect(config.lookup('empty.example')).toEqual({});
    expect(config.lookup('quay.io')).toEqual({});
    expect(loadDockerConfig(join(dir, 'missing.json'))).toBeUndefined();
  });

  it('credential helpers and identity tokens are not used: a note says so', () => {
    const file = write({
      credsStore: 'desktop',
      credHelpers: { 'gcr.io': 'gcloud' },
      auths: { 'store.example': {}, 'oauth.example': { identitytoken: 'tok' }, 'plain.example': { auth: b64('u:p') } },
    });
    const config = loadDockerConfig(file)!;
    expect(config.lookup('gcr.io').note).toBe(
      `${file} names the credential helper docker-credential-gcloud for gcr.io; berth does not run credential helpers, continuing without credentials`,
    );
    expect(config.lookup('store.example').note).toMatch(/credsStore docker-credential-desktop; berth does not run credential helpers/);
    expect(config.lookup('oauth.example').note).toMatch(/identity token for oauth\.example; berth does not use identity tokens/);
    // credentials in the file are used even with a store configured
    expect(config.lookup('plain.example')).toEqual({ credentials: { username: 'u', password: 'p' } });
    // a store alone says nothing of hosts never logged in to
    expect(config.lookup('other.example')).toEqual({});
  });

  it('a malformed config.json is one clear line naming the file', () => {
    const cases: Array<[unknown, RegExp]> = [
      ['{"auths": {', /invalid JSON: /],
      ['[]', /not a JSON object/],
      [{ auths: [] }, /auths must be an object/],
      [{ auths: { 'r.example': { auth: b64('nocolon') } } }, /auths\["r\.example"\]\.auth is not base64 of user:password/],
      [{ auths: { 'r.example': { auth: '%%%' } } }, /auths\["r\.example"\]\.auth is not base64 of user:password/],
      [{ auths: { 'r.example': { username: 5 } } }, /auths\["r\.example"\]\.username must be a string/],
      [{ credHelpers: { 'r.example': true } }, /credHelpers\["r\.example"\] must be a string/],
    ];
    for (const [doc, re] of cases) {
      const file = write(doc);
      let err: Error | undefined;
      try {
        loadDockerConfig(file);
      } catch (e) {
        err = e as Error;
      }
      expect(err?.message, JSON.stringify(doc)).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `));
      expect(err?.message, JSON.stringify(doc)).toMatch(re);
      expect(err?.message.includes('\n')).toBe(false);
    }
  });

  it('--user wins over the file; a note is given through warn once', () => {
    const file = write({ auths: { 'r.example': { auth: b64('file:pw') } }, credHelpers: { 'h.example': 'pass' } });
    const notes: string[] = [];
    const warn = (l: string) => notes.push(l);
    expect(cliCredentials('r.example', undefined, warn, file)).toEqual({ username: 'file', password: 'pw' });
    expect(cliCredentials('r.example', 'flag:secret', warn, file)).toEqual({ username: 'flag', password: 'secret' });
    expect(() => cliCredentials('r.example', 'nocolon', warn, file)).toThrow('--user must be given as user:password');
    expect(notes).toEqual([]);
    expect(cliCredentials('h.example', undefined, warn, file)).toBeUndefined();
    expect(notes).toEqual([
      `berth: note: ${file} names the credential helper docker-credential-pass for h.example; berth does not run credential helpers, continuing without credentials`,
    ]);
  });
});

describe('credentials from a DOCKER_CONFIG dir with a basic-auth docker-registry (berth images pull/push)', () => {
  let reg: TestRegistry;
  let daemon: Berthd;
  let dir: string;
  const img = buildTestImage({ kind: 'single', label: 'creds' });
  let ref = '';

  /** A DOCKER_CONFIG directory holding this config.json (or this text). */
  const dockerConfig = (name: string, doc: unknown): Record<string, string> => {
    const d = join(dir, name);
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'config.json'), typeof doc === 'string' ? doc : JSON.stringify(doc));
    return { DOCKER_CONFIG: d };
  };
  const pull = (env: Record<string, string>, ...flags: string[]) => daemon.berth(['images', 'pull', '--no-unpack', ...flags, ref], { env });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-creds-it-'));
    [reg, daemon] = await startTogether([startRegistry({ htpasswd: { alice: 'wonderland' } }), startBerthd()]);
    ref = `${reg.host}/creds/app:v1`;
    const client = new RegistryClient({ credentials: userPass('alice:wonderland') });
    try {
      await pushImage(client, parseReference(ref), img);
    } finally {
      client.close();
    }
  }, 60_000);
  afterAll(async () => {
    await daemon?.cleanup();
    await reg?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('no login anywhere: the registry refuses', () => {
    const r = pull({ DOCKER_CONFIG: join(dir, 'nothing-here') });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/authentication required/);
  });

  it('pulls with the login of $DOCKER_CONFIG/config.json (auth, or username and password)', () => {
    const r = pull(dockerConfig('auth', { auths: { [`http://${reg.host}`]: { auth: b64('alice:wonderland') } } }));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    daemon.berth(['images', 'rm', ref]);
    const r2 = pull(dockerConfig('userpass', { auths: { [reg.host]: { username: 'alice', password: 'wonderland' } } }));
    expect(r2.stderr).toBe('');
    expect(r2.code).toBe(0);
  });

  it('--user overrides the file, both ways', () => {
    const wrong = dockerConfig('wrong', { auths: { [reg.host]: { auth: b64('alice:not-this') } } });
    expect(pull(wrong).stderr).toMatch(/refused the credentials/);
    const r = pull(wrong, '--user', 'alice:wonderland');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const right = dockerConfig('right', { auths: { [reg.host]: { auth: b64('alice:wonderland') } } });
    const refused = pull(right, '--user', 'alice:nope');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/refused the credentials/);
  });

  it('a malformed config.json: one line naming the file, nothing pulled', () => {
    const env = dockerConfig('broken', '{"auths": ');
    const r = pull(env);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(new RegExp(`^berth: ${env.DOCKER_CONFIG}/config\\.json: invalid JSON: [^\\n]*\\n$`));
    expect(r.stderr).not.toMatch(/invalid argument/);
  });

  it('a credential helper for the registry: noted once on stderr, then anonymous', () => {
    const r = pull(dockerConfig('helper', { credHelpers: { [reg.host]: 'secretservice' } }));
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toBe(
      `berth: note: ${join(dir, 'helper', 'config.json')} names the credential helper docker-credential-secretservice for ${reg.host}; berth does not run credential helpers, continuing without credentials`,
    );
    expect(lines[1]).toMatch(/authentication required/);
  });

  it('push takes the login from the file too, --user over it', () => {
    const local = ref;
    const right = dockerConfig('push-right', { auths: { [reg.host]: { auth: b64('alice:wonderland') } } });
    const r = daemon.berth(['images', 'push', `${reg.host}/creds/pushed:v1`, local], { env: right });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const wrong = daemon.berth(['images', 'push', '--user', 'alice:nope', `${reg.host}/creds/pushed:v2`, local], { env: right });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/refused the credentials/);
    const none = daemon.berth(['images', 'push', `${reg.host}/creds/pushed:v3`, local], { env: { DOCKER_CONFIG: join(dir, 'nothing-here') } });
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/authentication required/);
  });
});
