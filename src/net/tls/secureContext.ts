/**
 * Building TLS secure contexts from PEM material: the key files of an `ssl:`/`tls:` endpoint, a
 * `sni=` directory of `SERVERNAME.pem` files, or credentials held in memory. Shared by the server
 * (`listen`), the client (`connect`) and `startTls`, so all three read keys the same way.
 *
 * @internal
 * @packageDocumentation
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createSecureContext, type SecureContext } from 'node:tls';
import type { TlsMinVersion, TlsServerEndpoint } from '../endpoints';

/** PEM text, as a string or the bytes of a `.pem` file. */
export type Pem = string | Buffer;

/** A private key and its certificate chain (the certificate first, then any intermediates). */
export interface TlsKeyPair {
  /** The private key, PEM. */
  readonly key: Pem;
  /** The certificate, then the intermediate certificates sent after it, PEM. */
  readonly cert: Pem;
}

/**
 * A server's keys and certificates, held in memory: the default pair, and more pairs chosen by the
 * server name the client asks for (SNI).
 */
export interface TlsCredentials extends TlsKeyPair {
  /**
   * Server name (`example.org`, compared without regard to case) to the pair served to clients
   * that ask for it; other names, and clients that send none, get `key`/`cert`.
   */
  readonly sni?: Readonly<Record<string, TlsKeyPair>>;
}

/** What every context of one server or client shares besides its key pair. */
export interface ContextSettings {
  readonly minVersion: TlsMinVersion;
  /** Certificates to trust for the peer's certificate; Node's bundled roots when absent. */
  readonly ca?: Pem | readonly Pem[];
}

/** A server's contexts: the default one, and one per SNI name (lower case). */
export interface ServerContexts {
  readonly defaultContext: SecureContext;
  readonly byName: ReadonlyMap<string, SecureContext>;
}

/**
 * One secure context for a key pair. Throws Node's error when the key or certificate is not valid
 * PEM, or the key does not match the certificate.
 */
export function secureContextOf(
  pair: TlsKeyPair | undefined,
  settings: ContextSettings,
): SecureContext {
  return createSecureContext({
    minVersion: settings.minVersion,
    ...(pair === undefined ? {} : { key: pair.key, cert: pair.cert }),
    ...(settings.ca === undefined ? {} : { ca: settings.ca as Pem | Pem[] }),
  });
}

/**
 * Builds every context of a server at once, so that a reload either replaces all of them or
 * (throwing) none.
 */
export function serverContextsOf(
  credentials: TlsCredentials,
  settings: ContextSettings,
): ServerContexts {
  const byName = new Map<string, SecureContext>();
  for (const [name, pair] of Object.entries(credentials.sni ?? {})) {
    byName.set(name.toLowerCase(), secureContextOf(pair, settings));
  }
  return { defaultContext: secureContextOf(credentials, settings), byName };
}

/**
 * Reads a TLS server endpoint's files: `privateKey`, `certKey` (the same file unless given; it
 * may hold the key and the chain together, as Twisted allows) with `extraCertChain` appended, and
 * the `sni` directory, whose `SERVERNAME.pem` files each hold a key and its chain (txsni's layout).
 * Throws Node's error for a file that cannot be read.
 */
export function readEndpointCredentials(endpoint: TlsServerEndpoint): TlsCredentials {
  if (endpoint.privateKey === undefined) {
    throw new TypeError(`${endpoint.inner.type} TLS endpoint has no privateKey= file`);
  }
  const key = readFileSync(endpoint.privateKey);
  const certFile = endpoint.certKey ?? endpoint.privateKey;
  const cert =
    endpoint.extraCertChain === undefined
      ? readFileSync(certFile)
      : Buffer.concat([
          readFileSync(certFile),
          Buffer.from('\n'),
          readFileSync(endpoint.extraCertChain),
        ]);
  if (endpoint.sni === undefined) {
    return { key, cert };
  }
  const sni: Record<string, TlsKeyPair> = {};
  for (const file of readdirSync(endpoint.sni)) {
    if (!file.endsWith('.pem')) continue;
    const pem = readFileSync(join(endpoint.sni, file));
    // One file holds both: OpenSSL picks the key block and the certificate blocks out of it.
    sni[file.slice(0, -'.pem'.length)] = { key: pem, cert: pem };
  }
  return { key, cert, sni };
}

/**
 * The certificates in a PEM file, or in every `.pem`/`.crt` file of a directory (Twisted's
 * `caCertsDir`). Throws Node's error when the path cannot be read, and a `TypeError` when a
 * directory holds no certificate file.
 */
export function readTrustRoots(path: string): Buffer[] {
  if (!statSync(path).isDirectory()) {
    return [readFileSync(path)];
  }
  const roots = readdirSync(path)
    .filter((file) => file.endsWith('.pem') || file.endsWith('.crt'))
    .sort()
    .map((file) => readFileSync(join(path, file)));
  if (roots.length === 0) {
    throw new TypeError(`no .pem or .crt file in the trust roots directory ${path}`);
  }
  return roots;
}
