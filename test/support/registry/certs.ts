import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const openssl = (args: string[], cwd: string) => run('openssl', args, { cwd });

export interface TestCa {
  caPem: string;
  certFile: string;
  keyFile: string;
  caFile: string;
}

/** A CA and a server certificate for 127.0.0.1/localhost, made with the openssl CLI in `dir`. */
export async function makeServerCert(dir: string): Promise<TestCa> {
  await openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '2',
      '-subj',
      '/CN=berth test CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  await openssl(
    ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1'],
    dir,
  );
  await writeFile(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  await openssl(
    ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'server.ext'],
    dir,
  );
  return {
    caPem: await readFile(join(dir, 'ca.crt'), 'utf8'),
    certFile: join(dir, 'server.crt'),
    keyFile: join(dir, 'server.key'),
    caFile: join(dir, 'ca.crt'),
  };
}

/** A client certificate (CN=berth test client) signed by the CA makeServerCert left in `dir`. */
export async function makeClientCert(dir: string): Promise<{ certFile: string; keyFile: string }> {
  await openssl(
    [
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      'client.key',
      '-out',
      'client.csr',
      '-subj',
      '/CN=berth test client',
    ],
    dir,
  );
  await writeFile(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  await openssl(
    ['x509', '-req', '-in', 'client.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'client.crt', '-days', '2', '-extfile', 'client.ext'],
    dir,
  );
  return { certFile: join(dir, 'client.crt'), keyFile: join(dir, 'client.key') };
}

export interface SigningCert {
  certFile: string;
  keyPem: string;
  /** base64 DER of the certificate, for a JWT x5c header */
  certDerB64: string;
}

/** A self-signed EC certificate to sign registry tokens with (and to trust as rootcertbundle). */
export async function makeSigningCert(dir: string): Promise<SigningCert> {
  await openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      'token.key',
      '-out',
      'token.crt',
      '-days',
      '2',
      '-subj',
      '/CN=berth test token issuer',
    ],
    dir,
  );
  const pem = await readFile(join(dir, 'token.crt'), 'utf8');
  const certDerB64 = pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  return { certFile: join(dir, 'token.crt'), keyPem: await readFile(join(dir, 'token.key'), 'utf8'), certDerB64 };
}

/** An htpasswd line with a bcrypt hash: libxcrypt's crypt(3) through perl (no htpasswd here). */
export async function htpasswdLine(user: string, password: string): Promise<string> {
  const salt = `$2b$05$${Buffer.from(crypto.getRandomValues(new Uint8Array(16)))
    .toString('base64')
    .replace(/[^A-Za-z0-9]/g, '.')
    .slice(0, 22)}`;
  const { stdout } = await run('perl', ['-e', 'print crypt($ARGV[0], $ARGV[1])', password, salt]);
  if (!stdout.startsWith('$2b$')) throw new Error(`crypt(3) did not produce bcrypt: ${stdout}`);
  return `${user}:${stdout}`;
}
