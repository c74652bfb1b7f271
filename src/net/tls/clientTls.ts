import { readFileSync } from 'node:fs';
import { connect as netConnect, isIP } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import type { TlsClientEndpoint, TlsMinVersion } from '../endpoints';
import { readTrustRoots, type Pem } from './secureContext';
import { resetsUnder } from './serverTls';

/**
 * TLS options of `connect`, `connectEvents` and `connectAsync` for `tls:`/`ssl:` endpoints: the
 * same settings as the endpoint's keywords, given in memory. Each one given here wins over the
 * endpoint's. The server's certificate is always verified; there is no option to skip it.
 */
export interface TlsConnectOptions {
  /**
   * The certificates to trust for the server's, instead of the endpoint's `trustRoots=`.
   *
   * @defaultValue the endpoint's `trustRoots=`, else Node's bundled root certificates
   */
  readonly ca?: Pem | readonly Pem[];
  /** A client certificate (and its chain), sent when the server asks for one; needs `key`. */
  readonly cert?: Pem;
  /** The client certificate's private key; needs `cert`. */
  readonly key?: Pem;
  /**
   * The name sent as SNI and checked against the server's certificate.
   *
   * @defaultValue the endpoint's `servername=`, else its host unless the host is an IP address
   * (then no SNI is sent and the certificate must name the address)
   */
  readonly servername?: string;
  /** ALPN protocols to offer, in order of preference. @defaultValue the endpoint's `alpn=` */
  readonly alpn?: readonly string[];
  /** The lowest TLS version accepted. @defaultValue the endpoint's `minVersion=` (`'TLSv1.2'`) */
  readonly minVersion?: TlsMinVersion;
}

/**
 * Checks at call time that a client's TLS options fit its endpoint.
 *
 * @throws TypeError for `tls` options on an endpoint without TLS, or `cert` without `key`.
 * @internal
 */
export function checkTlsConnectOptions(
  endpointType: string,
  options: TlsConnectOptions | undefined,
): void {
  if (options === undefined) return;
  if (endpointType !== 'tls') {
    throw new TypeError(
      'the tls option needs a tls: or ssl: endpoint; this one would connect in plain text',
    );
  }
  if ((options.cert === undefined) !== (options.key === undefined)) {
    throw new TypeError('a client certificate needs both cert and key');
  }
}

/**
 * Starts a TLS connection: TCP, then the handshake, verifying the server's certificate. Reads the
 * endpoint's files now, so each attempt sees their current contents; throws Node's error when one
 * cannot be read.
 *
 * @internal
 */
export function startTlsConnection(
  endpoint: TlsClientEndpoint,
  options: TlsConnectOptions | undefined,
  family: 4 | 6,
): TLSSocket {
  const ca =
    options?.ca ??
    (endpoint.trustRoots === undefined ? undefined : readTrustRoots(endpoint.trustRoots));
  const pair =
    options?.cert !== undefined && options.key !== undefined
      ? { cert: options.cert, key: options.key }
      : endpoint.certificate !== undefined && endpoint.privateKey !== undefined
        ? { cert: readFileSync(endpoint.certificate), key: readFileSync(endpoint.privateKey) }
        : undefined;
  const servername =
    options?.servername ??
    endpoint.servername ??
    (isIP(endpoint.host) === 0 ? endpoint.host : undefined);
  const alpn = options?.alpn ?? endpoint.alpn;
  const settings: ConnectionOptions = {
    // The name checked against the certificate when no servername is sent (an IP address).
    host: endpoint.host,
    rejectUnauthorized: true,
    minVersion: options?.minVersion ?? endpoint.minVersion,
    ...(ca === undefined ? {} : { ca: ca as Pem | Pem[] }),
    ...(pair === undefined ? {} : pair),
    ...(servername === undefined ? {} : { servername }),
    ...(alpn === undefined ? {} : { ALPNProtocols: [...alpn] }),
  };
  // Over a TCP socket of our own, so that abort() can reset it (see resetsUnder). Half-open: the
  // connection layer answers the peer's close_notify and FIN once its output is flushed.
  const raw = netConnect({
    host: endpoint.host,
    port: endpoint.port,
    family,
    allowHalfOpen: true,
    ...(endpoint.bindAddress === undefined ? {} : { localAddress: endpoint.bindAddress }),
  });
  const secure = tlsConnect({ ...settings, socket: raw });
  resetsUnder(secure, raw);
  return secure;
}
