import { parseDigest } from '../digest.ts';
import { invalidArgument } from '../errors.ts';

/**
 * Image references, `name[:tag][@digest]`, normalised the way docker and containerd do
 * (reference/docker ParseDockerRef): `busybox` → `docker.io/library/busybox:latest`.
 * A first path component is a registry domain when it has a `.` or a `:` or is `localhost`.
 */
export interface Reference {
  /** registry domain as written, with port: `docker.io`, `127.0.0.1:5000` */
  domain: string;
  /** repository path inside the registry: `library/busybox`, `a/b` */
  path: string;
  /** tag; `latest` when neither a tag nor a digest is given */
  tag?: string;
  /** `sha256:<hex>` when the reference names one */
  digest?: string;
}

const nameComponent = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const domainRe = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(?::[0-9]+)?$/;
const tagRe = /^[\w][\w.-]{0,127}$/;
const maxNameLength = 255;

/** How a first path component is told apart as a registry domain. */
const looksLikeDomain = (component: string) => /[.:]/.test(component) || component === 'localhost';

export function parseReference(input: string): Reference {
  const bad = (why: string) => invalidArgument(`invalid reference "${input}": ${why}`);
  if (input === '') throw bad('empty');
  if (/^[a-f0-9]{64}$/.test(input)) throw bad('cannot specify 64-byte hexadecimal strings');

  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    try {
      parseDigest(digest);
    } catch {
      throw bad(`invalid digest "${digest}"`);
    }
  }

  // The tag is after the last ':' that follows the last '/' (a ':' before it is a port).
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!tagRe.test(tag)) throw bad(`invalid tag "${tag}"`);
  }

  let domain = 'docker.io';
  let path = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (looksLikeDomain(first)) {
      domain = first;
      path = rest.slice(slash + 1);
    }
  }
  if (domain === 'index.docker.io') domain = 'docker.io';
  if (!domainRe.test(domain)) throw bad(`invalid registry domain "${domain}"`);
  if (path === '') throw bad('repository name must have at least one component');
  if (path.toLowerCase() !== path) throw bad('repository name must be lowercase');
  for (const component of path.split('/')) {
    if (!nameComponent.test(component)) throw bad(`invalid repository name component "${component}"`);
  }
  if (domain === 'docker.io' && !path.includes('/')) path = `library/${path}`;
  if (`${domain}/${path}`.length > maxNameLength) throw bad(`repository name must not be more than ${maxNameLength} characters`);

  if (!tag && !digest) tag = 'latest';
  return digest ? (tag ? { domain, path, tag, digest } : { domain, path, digest }) : { domain, path, tag };
}

/** `domain/path` */
export const repositoryName = (r: Reference) => `${r.domain}/${r.path}`;

/**
 * The normalised string form. Like containerd's ParseDockerRef, a reference with both a tag and a
 * digest keeps only the digest, which is what identifies the content.
 */
export function formatReference(r: Reference): string {
  return r.digest ? `${repositoryName(r)}@${r.digest}` : `${repositoryName(r)}:${r.tag ?? 'latest'}`;
}

/** What to put after `/manifests/` to resolve this reference: the digest if any, else the tag. */
export const manifestObject = (r: Reference) => r.digest ?? r.tag ?? 'latest';

/** The short form users type (`busybox:latest`, `me/app:1`), as docker's FamiliarString. */
export function familiarReference(r: Reference): string {
  let name = repositoryName(r);
  // a docker.io path whose first component looks like a domain keeps the domain, or it would name another registry
  if (r.domain === 'docker.io' && !looksLikeDomain(r.path.split('/')[0]!))
    name = r.path.startsWith('library/') && r.path.split('/').length === 2 ? r.path.slice(8) : r.path;
  return `${name}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
}

/**
 * The content label containerd lists a blob's source repositories under, for a registry domain:
 * `containerd.io/distribution.source.<host>`, the host as Go's url.Hostname gives it (no port,
 * no IPv6 brackets).
 */
export function sourceLabel(domain: string): string {
  const host = domain.startsWith('[') ? domain.slice(1, domain.indexOf(']')) : domain.replace(/:\d+$/, '');
  return `containerd.io/distribution.source.${host}`;
}
