import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { BerthError } from '../errors.ts';
import type { Credentials } from './auth.ts';

/**
 * Credentials from a Docker client config (`$DOCKER_CONFIG/config.json`, else
 * `~/.docker/config.json`), as `docker login` writes them: `auths[<registry>]` with `auth`
 * (base64 `user:password`) or `username` and `password`; Docker Hub is keyed
 * `https://index.docker.io/v1/`. Credential helpers (credsStore, credHelpers) and identity
 * tokens are not run or used: a lookup that would need them says so in `note`.
 */
export interface CredentialLookup {
  credentials?: Credentials;
  /** why a configured login cannot be used (to tell the user once) */
  note?: string;
}

export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.DOCKER_CONFIG || join(homedir(), '.docker'), 'config.json');
}

/** The registry host a config key names: scheme and path dropped, Docker Hub's aliases as docker.io. */
export function configKeyHost(key: string): string {
  const host = key
    .trim()
    .replace(/^[a-z][a-z0-9+.-]*:\/\//i, '')
    .replace(/\/.*$/, '')
    .toLowerCase();
  return host === 'index.docker.io' || host === 'registry-1.docker.io' ? 'docker.io' : host;
}

interface Entry {
  credentials?: Credentials;
  identityToken: boolean;
}

export class DockerConfig {
  private readonly auths = new Map<string, Entry>();
  private readonly helpers = new Map<string, string>();
  private readonly store?: string;

  constructor(
    readonly file: string,
    doc: Record<string, unknown>,
  ) {
    const bad = (m: string) => new BerthError('InvalidArgument', `${file}: ${m}`);
    const table = (v: unknown, name: string): Record<string, unknown> => {
      if (v === undefined || v === null) return {};
      if (typeof v !== 'object' || Array.isArray(v)) throw bad(`${name} must be an object`);
      return v as Record<string, unknown>;
    };
    for (const [key, raw] of Object.entries(table(doc.auths, 'auths'))) {
      const e = table(raw, `auths["${key}"]`);
      const str = (f: string) => {
        const v = e[f];
        if (v !== undefined && typeof v !== 'string') throw bad(`auths["${key}"].${f} must be a string`);
        return (v as string | undefined) || undefined;
      };
      const auth = str('auth');
      const username = str('username');
      const password = str('password');
      const entry: Entry = { identityToken: str('identitytoken') !== undefined };
      if (auth) {
        const plain = /^[A-Za-z0-9+/=\s]+$/.test(auth) ? Buffer.from(auth, 'base64').toString('utf8') : '';
        const i = plain.indexOf(':');
        if (i <= 0) throw bad(`auths["${key}"].auth is not base64 of user:password`);
        entry.credentials = { username: plain.slice(0, i), password: plain.slice(i + 1) };
      } else if (username && password !== undefined) {
        entry.credentials = { username, password };
      }
      const host = configKeyHost(key);
      // an exact key (as written in references) wins over a URL-form key for the same host
      if (!this.auths.has(host) || key === host) this.auths.set(host, entry);
    }
    for (const [key, v] of Object.entries(table(doc.credHelpers, 'credHelpers'))) {
      if (typeof v !== 'string') throw bad(`credHelpers["${key}"] must be a string`);
      this.helpers.set(configKeyHost(key), v);
    }
    if (doc.credsStore !== undefined && typeof doc.credsStore !== 'string') throw bad('credsStore must be a string');
    this.store = (doc.credsStore as string | undefined) || undefined;
  }

  /** What the file offers for a registry domain (`docker.io`, `127.0.0.1:5000`). */
  lookup(domain: string): CredentialLookup {
    const host = configKeyHost(domain);
    const helper = this.helpers.get(host);
    if (helper)
      return {
        note: `${this.file} names the credential helper docker-credential-${helper} for ${host}; berth does not run credential helpers, continuing without credentials`,
      };
    const entry = this.auths.get(host);
    if (entry?.credentials) return { credentials: entry.credentials };
    if (entry?.identityToken)
      return { note: `${this.file} holds an identity token for ${host}; berth does not use identity tokens, continuing without credentials` };
    // docker login with a store leaves an empty auths entry for the host
    if (entry && this.store)
      return {
        note: `${this.file} keeps the credentials for ${host} in the credsStore docker-credential-${this.store}; berth does not run credential helpers, continuing without credentials`,
      };
    return {};
  }
}

/** Reads a Docker config; undefined when the file does not exist. Malformed: a one-line InvalidArgument. */
export function loadDockerConfig(file: string = dockerConfigPath()): DockerConfig | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new BerthError('InvalidArgument', `${file}: cannot read: ${code ?? (err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new BerthError('InvalidArgument', `${file}: invalid JSON: ${(err as Error).message.split('\n')[0]}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new BerthError('InvalidArgument', `${file}: not a JSON object`);
  return new DockerConfig(file, doc as Record<string, unknown>);
}

/**
 * The credentials a CLI command sends for a registry: `--user user:password` if given, else the
 * Docker config's entry for the domain. A login the config holds but berth cannot use is noted
 * through `warn` (once per call: once per command).
 */
export function cliCredentials(
  domain: string,
  user: string | undefined,
  warn: (line: string) => void,
  file: string = dockerConfigPath(),
): Credentials | undefined {
  if (user !== undefined) {
    const i = user.indexOf(':');
    if (i <= 0) throw new Error('--user must be given as user:password');
    return { username: user.slice(0, i), password: user.slice(i + 1) };
  }
  let found: CredentialLookup;
  try {
    found = loadDockerConfig(file)?.lookup(domain) ?? {};
  } catch (err) {
    // the message says it all; a coded error would gain an ": invalid argument" tail in the CLI
    throw new Error((err as Error).message);
  }
  if (found.note) warn(`berth: note: ${found.note}`);
  return found.credentials;
}
