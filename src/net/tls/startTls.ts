import { Socket } from 'node:net';
import { TLSSocket, connect as tlsConnect, type SecureContext } from 'node:tls';
import { Observable, type Subscription } from 'rxjs';
import { startTls as startTlsCommand } from '../../commands';
import { HandshakeTimeoutError, StartTlsError, TlsError, type StartTlsRefusal } from '../../errors';
import { CoreConnection, type CloseHook } from '../../transport/connection/core';
import { DuplexTransport } from '../../transport/connection/duplexTransport';
import { UpgradingTransport } from '../../transport/connection/upgrade';
import type { CloseReason, Connection, ConnectionId, StartTlsCommand, TlsInfo } from '../../types';
import type { TlsMinVersion } from '../endpoints';
import { DEFAULT_HANDSHAKE_TIMEOUT } from '../listen';
import {
  secureContextOf,
  serverContextsOf,
  type Pem,
  type ServerContexts,
  type TlsKeyPair,
} from './secureContext';
import { clientCertificateError, peerClosed, serverTlsSocket } from './serverSocket';
import { tlsInfoOf } from './tlsInfo';

/** Options of {@link startTls}, and `serve`'s `startTls` option (where the role is always `server`). */
export interface StartTlsOptions {
  /**
   * Which end of the handshake this side plays.
   *
   * @defaultValue `'server'` for a connection a server accepted (`listen`, `serve`), `'client'`
   * for one made by `connect`
   */
  readonly role?: 'server' | 'client';
  /** The private key, PEM: required for the server role, a client certificate's key otherwise. */
  readonly key?: Pem;
  /** The certificate and its chain, PEM; given together with `key`. */
  readonly cert?: Pem;
  /** Server role: more key pairs, chosen by the server name the client asks for (SNI). */
  readonly sni?: Readonly<Record<string, TlsKeyPair>>;
  /**
   * The certificates to trust for the peer's: the server's (client role), or clients' with
   * `requestCert`.
   *
   * @defaultValue Node's bundled root certificates
   */
  readonly ca?: Pem | readonly Pem[];
  /**
   * Client role: the name sent by SNI and checked against the server's certificate.
   *
   * @defaultValue the connection's remote address, which is then checked against the
   * certificate's IP addresses (and no SNI is sent)
   */
  readonly servername?: string;
  /** ALPN protocols offered (client) or accepted (server), in order of preference. @defaultValue none */
  readonly alpn?: readonly string[];
  /** The lowest TLS version accepted. @defaultValue `'TLSv1.2'` */
  readonly minVersion?: TlsMinVersion;
  /**
   * Server role: ask the client for a certificate and fail the upgrade (a {@link TlsError}) when it
   * sends none or one that `ca` does not verify.
   *
   * @defaultValue `false`
   */
  readonly requestCert?: boolean;
  /**
   * Milliseconds for the whole upgrade, from the subscription: flushing the plain output (a peer
   * that does not read cannot hold it for ever) and the handshake. 0 or `Infinity` waits for ever.
   * Runs on the connection's scheduler.
   *
   * @defaultValue {@link DEFAULT_HANDSHAKE_TIMEOUT} (10000)
   */
  readonly handshakeTimeout?: number;
}

/**
 * Upgrades an open connection to TLS where it stands (SMTP's and IMAP's STARTTLS, Twisted's
 * `transport.startTLS`); given a connection id instead, returns the behaviour's `startTls`
 * command (see {@link StartTlsCommand}).
 *
 * ```text
 * subscribe:   ^
 * startTls(c): ------(i|)     i = TlsInfo, once the handshake finished
 * failed:      ------#        TlsError or HandshakeTimeoutError; c is aborted with it
 * ```
 *
 * The `Connection` stays the same object, with its id, state, timers and `data$` subscribers;
 * only the bytes under it change. In order:
 *
 * - from the subscription on, nothing is read and nothing received is delivered;
 * - what was written before goes out in plain text and is handed to the kernel (the "220 Go
 *   ahead");
 * - bytes that arrived and were not read yet are **discarded**: they were sent before the peer
 *   could have seen that reply, so they are plaintext pipelined after the request, which must never
 *   pass for protected input (the STARTTLS command injection of CVE-2011-0411);
 * - the handshake runs over the same socket; flush and handshake together get `handshakeTimeout`;
 * - what was written after the subscription goes out over TLS, reading resumes with the
 *   decrypted bytes, and `connection.tls` holds the {@link TlsInfo} this emits.
 *
 * A decoder piped on `data$` keeps what it had buffered: to drop it, as a server's framing does
 * (see `serve`'s `startTls` option), unsubscribe from it when the reply is written and subscribe
 * again once this completes.
 *
 * Unsubscribing before the handshake finished aborts the connection: a connection halfway into
 * TLS cannot go back to plain text.
 *
 * ## Example
 * ```ts
 * import { connectAsync, lines, startTls } from 'rxnet';
 *
 * const connection = await connectAsync('tcp:mail.example.org:25');
 * // … EHLO, STARTTLS, and the server's "220" read from connection.data$ …
 * startTls(connection, { servername: 'mail.example.org' }).subscribe((tls) =>
 *   console.log('now over', tls.protocol),
 * );
 * ```
 *
 * @param connection An open connection over a TCP or Unix socket, from `listen`, `serve` or
 * `connect`.
 * @param options The role, keys, trust roots and handshake timeout.
 * @returns A cold Observable: subscribing starts the upgrade. Fails with {@link TlsError} when the
 * handshake fails (garbage instead of a ClientHello, an untrusted certificate, the peer closing
 * during it), {@link HandshakeTimeoutError} when it takes longer than `handshakeTimeout`, and
 * {@link StartTlsError} when the connection cannot be upgraded: not over a TCP or Unix socket
 * (`memoryConnection()`, the virtual network), throttled or wrapped by `wiretap`, over TLS already
 * or being upgraded, or not `open`.
 * In every case the connection is aborted with that error.
 * @throws TypeError at call time for the server role without `key` and `cert`, or `key` without
 * `cert`.
 * @see {@link StartTlsCommand}
 */
export function startTls(connection: Connection, options?: StartTlsOptions): Observable<TlsInfo>;
/**
 * Returns the behaviour's `startTls` command: the server upgrades connection `id` as the other
 * signature does (see {@link StartTlsCommand}).
 *
 * @param id The connection to upgrade.
 * @returns The command, for a behaviour to emit.
 */
export function startTls(id: ConnectionId): StartTlsCommand;
export function startTls(
  target: ConnectionId | Connection,
  options: StartTlsOptions = {},
): StartTlsCommand | Observable<TlsInfo> {
  if (typeof target === 'number') {
    return startTlsCommand(target);
  }
  return tlsUpgrader(options, options.role ?? roleOf(target))(target);
}

/**
 * One configuration's upgrade, with its secure contexts built once (a server's `startTls`
 * option serves every connection with the same ones).
 *
 * @throws TypeError as {@link startTls} does.
 * @internal
 */
export function tlsUpgrader(
  options: StartTlsOptions,
  role: 'server' | 'client',
): (connection: Connection) => Observable<TlsInfo> {
  const { key, cert } = options;
  if ((key === undefined) !== (cert === undefined)) {
    throw new TypeError('startTls needs key and cert together');
  }
  if (role === 'server' && key === undefined) {
    throw new TypeError("startTls's server role needs key and cert");
  }
  const settings = {
    minVersion: options.minVersion ?? 'TLSv1.2',
    ...(options.ca === undefined ? {} : { ca: options.ca }),
  };
  const handshakeTimeout = options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT;
  const pair = key === undefined || cert === undefined ? undefined : { key, cert };
  let contexts: ServerContexts | undefined;
  let clientContext: SecureContext | undefined;
  if (role === 'server') {
    contexts = serverContextsOf(
      {
        key: pair!.key,
        cert: pair!.cert,
        ...(options.sni === undefined ? {} : { sni: options.sni }),
      },
      settings,
    );
  }
  const wrap =
    role === 'server'
      ? (raw: Socket): TLSSocket =>
          serverTlsSocket(raw, contexts!, {
            alpn: options.alpn,
            requestCert: options.requestCert === true,
          })
      : (raw: Socket, connection: Connection): TLSSocket =>
          tlsConnect({
            socket: raw,
            secureContext: (clientContext ??= secureContextOf(pair, settings)),
            // The certificate is checked against `servername`, else `host`; a host that is an IP
            // address is checked but not sent by SNI (RFC 6066 forbids it).
            ...(options.servername === undefined
              ? hostOf(connection)
              : { servername: options.servername }),
            ...(options.alpn === undefined ? {} : { ALPNProtocols: [...options.alpn] }),
          });
  // A client's socket has checked the server's certificate before it says it is ready.
  const ready = role === 'server' ? 'secure' : 'secureConnect';
  const requestCert = role === 'server' && options.requestCert === true;
  return (connection) =>
    new Observable<TlsInfo>((subscriber) => {
      const refusal = refusalOf(connection);
      if (refusal !== undefined) {
        const error = new StartTlsError(refusal);
        connection.abort(error);
        subscriber.error(error);
        return undefined;
      }
      const core = connection as CoreConnection;
      let done = false;
      let timer: Subscription | undefined;
      let secure: TLSSocket | undefined;
      const closeHook: CloseHook = {
        connectionClosed(reason: CloseReason) {
          // Closed by something else (an abort, the peer's reset) before the handshake finished.
          finish(
            new TlsError('The connection closed before the TLS handshake finished', {
              cause: 'error' in reason ? reason.error : undefined,
            }),
          );
        },
      };
      function finish(error: TlsError | HandshakeTimeoutError | undefined): void {
        if (done) return;
        done = true;
        timer?.unsubscribe();
        secure?.off(ready, onReady);
        core.unwatchClose(closeHook);
        if (error !== undefined) {
          connection.abort(error);
          subscriber.error(error);
        }
      }
      function onReady(): void {
        let authorized = role === 'client';
        if (requestCert) {
          const refused = clientCertificateError(secure!);
          if (refused !== undefined) {
            finish(refused);
            return;
          }
          authorized = true;
        }
        const info = tlsInfoOf(secure!, authorized);
        finish(undefined);
        core.upgradedTls = info;
        upgrade.complete();
        subscriber.next(info);
        subscriber.complete();
      }
      core.watchClose(closeHook);
      if (handshakeTimeout > 0 && handshakeTimeout !== Infinity) {
        timer = core.limits.scheduler.schedule(
          () => finish(new HandshakeTimeoutError('tls', handshakeTimeout)),
          handshakeTimeout,
        );
      }
      const upgrade = new UpgradingTransport(core, core.transport as DuplexTransport, {
        wrap(raw) {
          secure = wrap(raw as Socket, connection);
          secure.on(ready, onReady);
          return secure;
        },
        failed(error) {
          finish(new TlsError(undefined, { cause: error ?? peerClosed() }));
        },
      });
      return () => {
        if (!done) {
          finish(new TlsError('startTls was unsubscribed before the TLS handshake finished'));
        }
      };
    });
}

/** Why `connection` cannot be upgraded, or `undefined` when it can. */
function refusalOf(connection: Connection): StartTlsRefusal | undefined {
  if (!(connection instanceof CoreConnection)) return 'unsupported';
  if (connection.upgrading || connection.tls !== undefined) return 'alreadySecure';
  const transport = connection.transport;
  if (!(transport instanceof DuplexTransport)) return 'unsupported';
  const stream = transport.stream;
  if (stream instanceof TLSSocket) return 'alreadySecure';
  if (!(stream instanceof Socket)) return 'unsupported';
  return connection.state === 'open' ? undefined : 'notOpen';
}

/** A server accepted it (Node sets `server` on the sockets it accepts), or it is a client's. */
function roleOf(connection: Connection): 'server' | 'client' {
  const transport = connection instanceof CoreConnection ? connection.transport : undefined;
  const stream = transport instanceof DuplexTransport ? transport.stream : undefined;
  return (stream as { server?: unknown } | undefined)?.server != null ? 'server' : 'client';
}

/** The remote address's host: what the server's certificate is checked against by default. */
function hostOf(connection: Connection): { host?: string } {
  const remote = connection.remote;
  return remote._tag === 'TcpAddress' ? { host: remote.hostname } : {};
}
