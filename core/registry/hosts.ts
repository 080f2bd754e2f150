import { readdirSync, readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, isAbsolute, join, posix } from 'node:path';
import { parse } from 'smol-toml';
import { parseGoDuration } from '../duration.ts';
import { BerthError } from '../errors.ts';

/**
 * Where and how to reach a registry. A reference's domain maps to a list of hosts tried in order:
 * mirrors first, then the server (the registry itself). By default that is one host, built from
 * these options; a config directory in containerd's layout (certs.d: `<host[:port]>/hosts.toml`)
 * adds mirrors and per-host TLS, headers and API paths.
 */
export interface HostOptions {
  /**
   * true: plain HTTP. false: HTTPS even on loopback. Unset: plain HTTP for localhost and
   * loopback addresses (as containerd's MatchLocalhost) unless `ca` or `skipVerify` asks for TLS.
   */
  plainHttp?: boolean;
  /** PEM of CA certificates trusted in addition to the system's */
  ca?: string | Buffer;
  /** accept any server certificate (--skip-verify) */
  skipVerify?: boolean;
  /** PEM client certificates and their keys (TLS client authentication) */
  clientCerts?: Array<{ cert: string; key: string }>;
  /** give up connecting after this long (hosts.toml dial_timeout), so a dead mirror is passed quickly */
  dialTimeoutMs?: number;
}

export interface Endpoint {
  scheme: 'http' | 'https';
  /** host[:port] requests go to */
  host: string;
  /** the domain as written in references (for messages and credentials) */
  domain: string;
}

export type Capability = 'pull' | 'resolve' | 'push';
const allCapabilities: readonly Capability[] = ['pull', 'resolve', 'push'];

/** One host a domain's requests may go to. */
export interface RegistryHost {
  scheme: 'http' | 'https';
  /** host[:port] */
  host: string;
  /** the API root, without a trailing slash: `/v2`, `/mirror/v2`, or any path with override_path */
  path: string;
  capabilities: ReadonlySet<Capability>;
  /** extra headers sent with every request to this host */
  header: Record<string, string[]>;
  tls: HostOptions;
  /** a `[host."…"]` entry of hosts.toml rather than the server */
  mirror: boolean;
}

export const defaultHostsDir = '/etc/berth/certs.d';

export function isLoopback(hostPort: string): boolean {
  let host = hostPort;
  const m = /^\[(.*)\](?::\d+)?$/.exec(hostPort);
  if (m) host = m[1];
  else if (hostPort.split(':').length === 2) host = hostPort.split(':')[0];
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

export function endpointFor(domain: string, opts: HostOptions = {}): Endpoint {
  const host = domain === 'docker.io' ? 'registry-1.docker.io' : domain;
  const plain = opts.plainHttp ?? (isLoopback(host) && opts.ca === undefined && !opts.skipVerify);
  return { scheme: plain ? 'http' : 'https', host, domain };
}

/**
 * The directory configuring a domain, as containerd looks for it: `host_port_` (a port's colon
 * spelled as underscores), then `host:port`, then `_default`; undefined when none exists.
 */
export function hostDirectory(root: string, domain: string): string | undefined {
  const candidates: string[] = [];
  const i = domain.lastIndexOf(':');
  if (i > 0 && !domain.endsWith(']')) candidates.push(`${domain.slice(0, i)}_${domain.slice(i + 1)}_`);
  candidates.push(domain, '_default');
  for (const c of candidates) {
    const dir = join(root, c);
    try {
      if (statSync(dir).isDirectory()) return dir;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new BerthError('FailedPrecondition', `registry hosts config ${dir}: ${(err as Error).message}`);
    }
  }
  return undefined;
}

/**
 * The hosts for a domain, in the order to try them. `defaults` (the request's --plain-http,
 * --skip-verify, --tls-ca) shape the server when no hosts.toml names one, and are the TLS base
 * every host's own settings add to. `configDir` unset or missing: the domain's registry only.
 */
export function registryHosts(domain: string, defaults: HostOptions = {}, configDir?: string): RegistryHost[] {
  const dir = configDir ? hostDirectory(configDir, domain) : undefined;
  let file: HostsFile = {};
  let hosts: Array<[string, HostSection]> = [];
  if (dir) {
    const path = join(dir, 'hosts.toml');
    let text: string | undefined;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw configError(path, (err as Error).message);
    }
    if (text === undefined) file = dockerCertFiles(dir);
    else ({ file, hosts } = parseHostsToml(text, path));
  }
  const out = hosts.map(([url, section]) => hostFrom(url, section, defaults, true));
  out.push(file.server ? hostFrom(file.server, file, defaults, false) : defaultServer(domain, file, defaults));
  return out;
}

interface HostSection {
  capabilities?: Capability[];
  /** PEM, read from the files named */
  ca?: string;
  clientCerts?: Array<{ cert: string; key: string }>;
  skipVerify?: boolean;
  header?: Record<string, string[]>;
  overridePath?: boolean;
  dialTimeoutMs?: number;
}

interface HostsFile extends HostSection {
  server?: string;
}

const configError = (path: string, message: string) => new BerthError('FailedPrecondition', `registry hosts config ${path}: ${message}`);

/** Parses one hosts.toml; every problem is an error naming the file (and the entry). */
export function parseHostsToml(text: string, path: string): { file: HostsFile; hosts: Array<[string, HostSection]> } {
  let doc: Record<string, unknown>;
  try {
    doc = parse(text) as Record<string, unknown>;
  } catch (err) {
    const e = err as Error & { line?: number; column?: number };
    throw configError(path, `${e.message.split('\n')[0]}${e.line ? ` (line ${e.line}, column ${e.column})` : ''}`);
  }
  const base = dirname(path);
  const section = (t: Record<string, unknown>, where: string): HostSection => {
    const fail = (m: string) => configError(path, `${where}${m}`);
    const s: HostSection = {};
    if (t.proxy !== undefined) throw fail('proxy is not supported by berth');
    if (t.capabilities !== undefined) {
      if (!Array.isArray(t.capabilities) || t.capabilities.some((c) => typeof c !== 'string')) throw fail('capabilities must be a list of strings');
      s.capabilities = (t.capabilities as string[]).map((c) => {
        const lower = c.toLowerCase() as Capability;
        if (!allCapabilities.includes(lower)) throw fail(`unknown capability "${c}" (pull, resolve or push)`);
        return lower;
      });
    }
    const paths = (v: unknown, name: string): string[] => {
      if (typeof v === 'string') return [v];
      if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
      throw fail(`${name} must be a path or a list of paths`);
    };
    const read = (p: string, what: string) => {
      const abs = isAbsolute(p) ? p : join(base, p);
      try {
        return readPemFile(abs);
      } catch (err) {
        throw fail(`cannot read ${what} ${abs}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    };
    if (t.ca !== undefined) {
      s.ca = paths(t.ca, 'ca')
        .map((p) => {
          const pem = read(p, 'CA file');
          if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw fail(`CA file ${p} holds no PEM certificate`);
          return pem;
        })
        .join('\n');
    }
    if (t.client !== undefined) {
      const pairs: Array<[string, string]> = [];
      const v = t.client;
      if (typeof v === 'string') pairs.push([v, '']);
      else if (Array.isArray(v)) {
        for (const p of v) {
          if (typeof p === 'string') pairs.push([p, '']);
          else if (Array.isArray(p) && p.length === 2 && p.every((x) => typeof x === 'string')) pairs.push([p[0] as string, p[1] as string]);
          else throw fail('client must be a path, a list of paths, or a list of [cert, key] pairs');
        }
      } else throw fail('client must be a path, a list of paths, or a list of [cert, key] pairs');
      s.clientCerts = pairs.map(([c, k]) => {
        const cert = read(c, 'client certificate');
        return { cert, key: k ? read(k, 'client key') : cert };
      });
    }
    if (t.skip_verify !== undefined) {
      if (typeof t.skip_verify !== 'boolean') throw fail('skip_verify must be true or false');
      s.skipVerify = t.skip_verify;
    }
    if (t.override_path !== undefined) {
      if (typeof t.override_path !== 'boolean') throw fail('override_path must be true or false');
      s.overridePath = t.override_path;
    }
    if (t.dial_timeout !== undefined) {
      const ms = typeof t.dial_timeout === 'string' ? parseGoDuration(t.dial_timeout) : undefined;
      if (ms === undefined) throw fail('dial_timeout must be a duration such as "500ms", "1s" or "1m30s"');
      s.dialTimeoutMs = ms;
    }
    if (t.header !== undefined) {
      if (typeof t.header !== 'object' || t.header === null || Array.isArray(t.header)) throw fail('header must be a table');
      s.header = {};
      for (const [k, v] of Object.entries(t.header as Record<string, unknown>)) {
        if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(k)) throw fail(`header "${k}" is not a valid header name`);
        const values = typeof v === 'string' ? [v] : Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : undefined;
        if (!values || values.some((x) => /[\r\n\0]/.test(x))) throw fail(`header "${k}" must be a string or a list of strings (one line each)`);
        s.header[k.toLowerCase()] = values;
      }
    }
    return s;
  };
  const file: HostsFile = section(doc, '');
  if (doc.server !== undefined) {
    if (typeof doc.server !== 'string' || doc.server === '') throw configError(path, 'server must be a URL');
    file.server = doc.server;
    checkUrl(doc.server, path, 'server');
  }
  const hosts: Array<[string, HostSection]> = [];
  if (doc.host !== undefined) {
    if (typeof doc.host !== 'object' || doc.host === null || Array.isArray(doc.host)) throw configError(path, 'host must be a table of [host."<url>"] entries');
    // smol-toml keeps the file's order: mirrors are tried as listed
    for (const [url, t] of Object.entries(doc.host as Record<string, unknown>)) {
      if (typeof t !== 'object' || t === null || Array.isArray(t)) throw configError(path, `host "${url}" must be a table`);
      checkUrl(url, path, `host "${url}"`);
      hosts.push([url, section(t as Record<string, unknown>, `host "${url}": `)]);
    }
  }
  return { file, hosts };
}

const maxPemFile = 1 << 20;

/**
 * A certificate or key file's text. Only a regular file of reasonable size: a device or a FIFO
 * named by mistake (/dev/zero, a pipe) would fill memory or block the daemon for good.
 */
function readPemFile(path: string): string {
  const st = statSync(path);
  if (!st.isFile()) throw new Error('not a regular file');
  if (st.size > maxPemFile) throw new Error(`larger than ${maxPemFile} bytes`);
  return readFileSync(path, 'utf8');
}

function parseUrl(raw: string): URL {
  return new URL(/^https?:\/\//i.test(raw) ? raw : `https://${raw}`);
}

function checkUrl(raw: string, path: string, what: string) {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) && !/^https?:\/\//i.test(raw)) throw configError(path, `${what}: "${raw}" must be an http or https URL`);
  let u: URL;
  try {
    u = parseUrl(raw);
  } catch {
    throw configError(path, `${what}: "${raw}" is not a URL`);
  }
  if (!u.host || u.search || u.hash || u.username || u.password) throw configError(path, `${what}: "${raw}" must be scheme://host[:port][/path]`);
}

function mergeTls(defaults: HostOptions, s: HostSection): HostOptions {
  const cas = [defaults.ca?.toString(), s.ca].filter((x): x is string => x !== undefined);
  return {
    ...(cas.length > 0 ? { ca: cas.join('\n') } : {}),
    ...((s.skipVerify ?? defaults.skipVerify) !== undefined ? { skipVerify: s.skipVerify ?? defaults.skipVerify } : {}),
    ...((s.clientCerts ?? defaults.clientCerts) ? { clientCerts: s.clientCerts ?? defaults.clientCerts } : {}),
    ...((s.dialTimeoutMs ?? defaults.dialTimeoutMs) !== undefined ? { dialTimeoutMs: s.dialTimeoutMs ?? defaults.dialTimeoutMs } : {}),
  };
}

/** A host from a URL: no scheme means https; the path gains `/v2` unless override_path says it is the API root. */
function hostFrom(raw: string, s: HostSection, defaults: HostOptions, mirror: boolean): RegistryHost {
  const u = parseUrl(raw);
  let path = u.pathname === '/' ? '' : posix.normalize(u.pathname).replace(/\/+$/, '');
  if (!s.overridePath && !path.endsWith('/v2')) path += '/v2';
  return {
    scheme: u.protocol === 'http:' ? 'http' : 'https',
    host: u.host,
    path,
    capabilities: new Set(s.capabilities && s.capabilities.length > 0 ? s.capabilities : allCapabilities),
    header: s.header ?? {},
    tls: mergeTls(defaults, s),
    mirror,
  };
}

/** The domain's own registry, when hosts.toml names no server (its top-level settings still apply). */
function defaultServer(domain: string, s: HostSection, defaults: HostOptions): RegistryHost {
  const tls = mergeTls(defaults, s);
  const endpoint = endpointFor(domain, { ...tls, plainHttp: defaults.plainHttp });
  return {
    scheme: endpoint.scheme,
    host: endpoint.host,
    path: s.overridePath ? '' : '/v2',
    capabilities: new Set(s.capabilities && s.capabilities.length > 0 ? s.capabilities : allCapabilities),
    header: s.header ?? {},
    tls,
    mirror: false,
  };
}

/** A host directory without hosts.toml: Docker's layout (`*.crt` CAs, `name.cert` + `name.key` client pairs). */
function dockerCertFiles(dir: string): HostsFile {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch (err) {
    throw configError(dir, (err as Error).message);
  }
  const read = (n: string) => {
    try {
      return readPemFile(join(dir, n));
    } catch (err) {
      throw configError(join(dir, n), (err as Error).message);
    }
  };
  const file: HostsFile = {};
  const cas = names.filter((n) => n.endsWith('.crt')).map(read);
  if (cas.length > 0) file.ca = cas.join('\n');
  const pairs = names
    .filter((n) => n.endsWith('.cert'))
    .map((n) => {
      const key = n.replace(/\.cert$/, '.key');
      if (!names.includes(key)) throw configError(join(dir, n), `client certificate without its key ${key}`);
      return { cert: read(n), key: read(key) };
    });
  if (pairs.length > 0) file.clientCerts = pairs;
  return file;
}
