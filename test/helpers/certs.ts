/**
 * Certificates for the TLS tests, made by the openssl CLI in a temporary directory, once per test
 * file: nothing secret is committed, and every run has fresh keys. P-256 keys keep it fast.
 *
 * ```ts
 * const certs = makeCerts();
 * afterAll(() => certs.remove());
 * listen(`ssl:0:interface=127.0.0.1:privateKey=${certs.server.key}:certKey=${certs.server.cert}`);
 * ```
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A key and certificate, as file paths. */
export interface CertFiles {
  readonly key: string;
  readonly cert: string;
}

/** What {@link makeCerts} made; every field is a path in `dir`. */
export interface TestCerts {
  readonly dir: string;
  /** The test CA that signs everything below unless said otherwise. */
  readonly ca: CertFiles;
  /** A second CA that signs nothing here: trusting only it, a client trusts none of our servers. */
  readonly otherCa: CertFiles;
  /** `CN=localhost`, for localhost, 127.0.0.1 and ::1. */
  readonly server: CertFiles;
  /** The same names as `server`, another key and `O=rotated`: the certificate a reload brings. */
  readonly rotated: CertFiles;
  /** `CN=alpha.test` and `CN=beta.test`, for SNI. */
  readonly alpha: CertFiles;
  readonly beta: CertFiles;
  /** A directory of `alpha.test.pem` and `beta.test.pem`, each key and certificate in one file (txsni's layout). */
  readonly sniDir: string;
  /** For localhost, but valid only in January 2020. */
  readonly expired: CertFiles;
  /** For localhost, signed by itself: no client trusts it. */
  readonly selfSigned: CertFiles;
  /** `CN=rxnet client`, a client certificate. */
  readonly client: CertFiles;
  /** The PEM text of a file. */
  read(path: string): Buffer;
  /** The SHA-256 fingerprint of a certificate file, as Node prints it (`AB:CD:…`). */
  fingerprint(cert: string): string;
  /** Deletes the directory. */
  remove(): void;
}

const LOCALHOST_NAMES = 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1';

function openssl(cwd: string, args: readonly string[]): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 });
}

/** Makes the CAs, the server, SNI, expired, self-signed and client certificates. */
export function makeCerts(): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), 'rxnet-certs-'));
  const path = (name: string): string => join(dir, name);
  const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

  function selfSigned(name: string, subject: string, extension?: string): CertFiles {
    const files = { key: path(`${name}.key`), cert: path(`${name}.pem`) };
    openssl(dir, [
      'req',
      '-x509',
      ...newKey,
      '-keyout',
      files.key,
      '-out',
      files.cert,
      '-days',
      '30',
      '-subj',
      subject,
      ...(extension === undefined ? [] : ['-addext', extension]),
    ]);
    return files;
  }
  function request(name: string, subject: string): { key: string; csr: string } {
    const files = { key: path(`${name}.key`), csr: path(`${name}.csr`) };
    openssl(dir, ['req', ...newKey, '-keyout', files.key, '-out', files.csr, '-subj', subject]);
    return files;
  }
  function signed(name: string, subject: string, extension?: string): CertFiles {
    const { key, csr } = request(name, subject);
    const cert = path(`${name}.pem`);
    const ext = path(`${name}.ext`);
    writeFileSync(ext, `${extension ?? 'basicConstraints=CA:FALSE'}\n`);
    openssl(dir, [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      ca.cert,
      '-CAkey',
      ca.key,
      '-CAcreateserial',
      '-out',
      cert,
      '-days',
      '30',
      '-sha256',
      '-extfile',
      ext,
    ]);
    return { key, cert };
  }

  const ca = selfSigned('ca', '/CN=rxnet test CA');
  const otherCa = selfSigned('other-ca', '/CN=rxnet other CA');
  const server = signed('server', '/CN=localhost', LOCALHOST_NAMES);
  const rotated = signed('rotated', '/O=rotated/CN=localhost', LOCALHOST_NAMES);
  const alpha = signed('alpha', '/CN=alpha.test', 'subjectAltName=DNS:alpha.test');
  const beta = signed('beta', '/CN=beta.test', 'subjectAltName=DNS:beta.test');
  const client = signed('client', '/CN=rxnet client', 'extendedKeyUsage=clientAuth');
  const selfSignedServer = selfSigned('self-signed', '/CN=localhost', LOCALHOST_NAMES);

  // `openssl x509 -req` of OpenSSL 3.0 cannot date a certificate in the past; `openssl ca` can.
  const expiredRequest = request('expired', '/CN=localhost');
  mkdirSync(path('ca-db'));
  writeFileSync(path('ca-db/index.txt'), '');
  writeFileSync(path('ca-db/serial'), '1000\n');
  writeFileSync(
    path('ca.cnf'),
    [
      '[ca]',
      'default_ca = test_ca',
      '[test_ca]',
      `database = ${path('ca-db/index.txt')}`,
      `new_certs_dir = ${path('ca-db')}`,
      `serial = ${path('ca-db/serial')}`,
      'default_md = sha256',
      'policy = any',
      'unique_subject = no',
      'x509_extensions = server_names',
      '[any]',
      'commonName = supplied',
      '[server_names]',
      LOCALHOST_NAMES,
      '',
    ].join('\n'),
  );
  const expired = { key: expiredRequest.key, cert: path('expired.pem') };
  openssl(dir, [
    'ca',
    '-batch',
    '-config',
    path('ca.cnf'),
    '-cert',
    ca.cert,
    '-keyfile',
    ca.key,
    '-in',
    expiredRequest.csr,
    '-out',
    expired.cert,
    '-notext',
    '-startdate',
    '20200101000000Z',
    '-enddate',
    '20200201000000Z',
  ]);

  const sniDir = path('sni');
  mkdirSync(sniDir);
  for (const [name, files] of [
    ['alpha.test', alpha],
    ['beta.test', beta],
  ] as const) {
    writeFileSync(
      join(sniDir, `${name}.pem`),
      Buffer.concat([readFileSync(files.key), readFileSync(files.cert)]),
    );
  }

  return {
    dir,
    ca,
    otherCa,
    server,
    rotated,
    alpha,
    beta,
    sniDir,
    expired,
    selfSigned: selfSignedServer,
    client,
    read: (file) => readFileSync(file),
    fingerprint: (cert) => new X509Certificate(readFileSync(cert)).fingerprint256,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
