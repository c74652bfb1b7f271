import type { Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import { TlsError } from '../../errors';
import type { ServerContexts } from './secureContext';

/**
 * The server side of a TLS handshake on an accepted socket, for the TLS endpoints (serverTls.ts)
 * and for `startTls` in the server role: both wrap a plain socket themselves rather than let a
 * `tls.Server` accept it.
 *
 * A TLSSocket is half-open when the socket it wraps is: listen's are (`allowHalfOpen: true`), so
 * the peer's close_notify and FIN end only our reading, and end() sends close_notify and FIN.
 *
 * @param raw The accepted plain socket.
 * @param contexts The default context, and one per SNI name.
 * @param options The ALPN protocols offered, and whether to ask for (and require) a client
 * certificate.
 * @returns The TLSSocket, its handshake under way.
 * @internal
 */
export function serverTlsSocket(
  raw: Socket,
  contexts: ServerContexts,
  options: { readonly alpn: readonly string[] | undefined; readonly requestCert: boolean },
): TLSSocket {
  const { defaultContext, byName } = contexts;
  const { alpn, requestCert } = options;
  return new TLSSocket(raw, {
    isServer: true,
    secureContext: defaultContext,
    // Without SNI files the callback would only cost a round through JavaScript per handshake.
    ...(byName.size === 0
      ? {}
      : {
          SNICallback: (
            name: string,
            choose: (error: Error | null, context?: SecureContext) => void,
          ) => choose(null, byName.get(name.toLowerCase()) ?? defaultContext),
        }),
    ...(alpn === undefined ? {} : { ALPNProtocols: [...alpn] }),
    requestCert,
    rejectUnauthorized: requestCert,
  });
}

/**
 * Why the client certificate of a server-side socket made by {@link serverTlsSocket} with
 * `requestCert` failed verification, once its handshake is done; `undefined` when it passed.
 *
 * A TLSSocket made outside a tls.Server only records the verification; the server's own check
 * (`onServerSocketSecure`) reads it from the handle, as this does.
 *
 * @internal
 */
export function clientCertificateError(secure: TLSSocket): TlsError | undefined {
  const verifyError = (
    secure as TLSSocket & { ssl?: { verifyError?(): Error | null } }
  ).ssl?.verifyError?.();
  if (verifyError === null) return undefined;
  return new TlsError(undefined, {
    cause: verifyError ?? new Error('the client certificate could not be verified'),
  });
}

/**
 * The error Node's own client reports when a server closes during the handshake; Node itself
 * reports nothing on the server side, so a TLSSocket made by hand gets this as its cause.
 *
 * @internal
 */
export function peerClosed(): Error {
  return Object.assign(
    new Error('The peer closed the connection before the TLS handshake finished'),
    { code: 'ECONNRESET' },
  );
}
