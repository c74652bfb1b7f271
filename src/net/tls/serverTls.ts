import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import {
  asyncScheduler,
  isObservable,
  type Observable,
  type SchedulerLike,
  type Subscription,
} from 'rxjs';
import { HandshakeTimeoutError, TlsError } from '../../errors';
import type { TlsInfo } from '../../types';
import type { TlsMinVersion, TlsServerEndpoint } from '../endpoints';
import {
  readEndpointCredentials,
  serverContextsOf,
  type ContextSettings,
  type Pem,
  type ServerContexts,
  type TlsCredentials,
} from './secureContext';
import { clientCertificateError, peerClosed, serverTlsSocket } from './serverSocket';
import { tlsInfoOf } from './tlsInfo';

/**
 * TLS options of `listen` and `serve`, for `ssl:` and `tls:` endpoints (a TCP or Unix endpoint
 * given any of them is a `TypeError`: it would serve plain text).
 *
 * The keys come from the endpoint's files (`privateKey=`, `certKey=`, `extraCertChain=`, `sni=`)
 * or, for keys held in memory, from `tls`; not from both (a `TypeError`). Each handshake uses the
 * credentials current when it starts, so a reload reaches new connections only, and a connection
 * already open keeps the certificate it was made with.
 */
export interface TlsListenOptions {
  /**
   * The server's key, certificate chain and SNI pairs, in memory, instead of the endpoint's files
   * (`ssl:8443` then needs no `privateKey=`). An Observable replaces them with each value it
   * emits: that is the reload for keys held in memory. Connections accepted before its first value
   * wait for it, within `handshakeTimeout`. A value that cannot be used (bad PEM, a key that does
   * not match its certificate) is reported like a failed reload, and the previous one stays; its
   * error is reported too, and the last good credentials stay for good.
   */
  readonly tls?: TlsCredentials | Observable<TlsCredentials>;
  /**
   * Each emission re-reads the endpoint's key, certificate, chain and `sni=` files, and new
   * connections get what they hold. Connections already open are untouched. A reload that fails
   * (a file missing or unreadable, a key that does not match its certificate) keeps the current
   * credentials and is reported to {@link TlsListenOptions.onTlsReloadError}. Only for key files:
   * with `tls`, emit new credentials from it instead (a `TypeError`).
   */
  readonly reloadTls?: Observable<unknown>;
  /**
   * Told of each failed reload, with a {@link TlsError} whose `cause` is Node's error; the server
   * goes on with the credentials it had.
   *
   * @defaultValue a process warning (`process.emitWarning`, type `TlsError`, code `RXNET_ERR_TLS`),
   * so a failed rotation is never silent
   */
  readonly onTlsReloadError?: (error: TlsError) => void;
  /**
   * ALPN protocols the server accepts, in order of preference; overrides the endpoint's `alpn=`.
   * A client that offers ALPN with none of them fails its handshake.
   *
   * @defaultValue the endpoint's `alpn=`, else no ALPN
   */
  readonly alpn?: readonly string[];
  /** The lowest TLS version accepted; overrides the endpoint's `minVersion=`. @defaultValue the endpoint's (`'TLSv1.2'`) */
  readonly minVersion?: TlsMinVersion;
  /**
   * Asks each client for a certificate and refuses (a {@link TlsError}) a client that sends none
   * or one that `ca` does not verify; `connection.tls.peerCertificate` then names the client.
   *
   * @defaultValue `false`
   */
  readonly requestCert?: boolean;
  /**
   * The certificates that client certificates must chain to, with `requestCert`.
   *
   * @defaultValue Node's bundled root certificates
   */
  readonly ca?: Pem | readonly Pem[];
  /** Runs the handshake timeout; also the connections' clock. @defaultValue `asyncScheduler` */
  readonly scheduler?: SchedulerLike;
}

/** What `accept` reports: a TLS socket, and what its handshake settled; or why it failed. @internal */
export type TlsAccepted = (
  error: TlsError | HandshakeTimeoutError | undefined,
  secure: TLSSocket | undefined,
  info?: TlsInfo,
) => void;

/** A server's TLS side: makes each accepted socket a TLSSocket. @internal */
export interface ServerTls {
  /**
   * Wraps a paused socket and runs the handshake within `timeout` ms (0 or Infinity: no limit);
   * `done` is called once, unless `stop()` comes first.
   */
  accept(socket: Socket, timeout: number, done: TlsAccepted): void;
  /** Stops reloading and drops the handshakes in progress without calling their `done`. */
  stop(): void;
}

/**
 * Checks at `listen`'s call time that the TLS options fit the endpoint.
 *
 * @throws TypeError for TLS options on an endpoint without TLS, for `tls` beside key files, for
 * `reloadTls` with `tls`, and for a TLS endpoint with neither key files nor `tls`.
 * @internal
 */
export function checkTlsListenOptions(
  endpoint: TlsServerEndpoint | undefined,
  options: TlsListenOptions,
): void {
  const given = (
    ['tls', 'reloadTls', 'onTlsReloadError', 'alpn', 'minVersion', 'requestCert', 'ca'] as const
  ).filter((name) => options[name] !== undefined);
  if (endpoint === undefined) {
    if (given.length > 0) {
      throw new TypeError(
        `${given.join(', ')} ${given.length === 1 ? 'needs' : 'need'} an ssl: or tls: endpoint; this one would serve plain text`,
      );
    }
    return;
  }
  const hasFiles = endpoint.privateKey !== undefined;
  if (options.tls !== undefined && (hasFiles || endpoint.sni !== undefined)) {
    throw new TypeError(
      "give the keys either as the endpoint's files or as the tls option, not both",
    );
  }
  if (options.tls !== undefined && options.reloadTls !== undefined) {
    throw new TypeError(
      'reloadTls re-reads key files; with the tls option, emit new credentials from it',
    );
  }
  if (options.tls === undefined && !hasFiles) {
    throw new TypeError('a TLS endpoint needs privateKey= (and certKey=) or the tls option');
  }
}

/**
 * Builds a server's TLS side from its endpoint and options. Throws (a `ListenError`'s cause) when
 * the files cannot be read or do not hold a matching key and certificate.
 *
 * @internal
 */
export function serverTlsOf(endpoint: TlsServerEndpoint, options: TlsListenOptions): ServerTls {
  return new ServerTlsHandshakes(endpoint, options);
}

/** A handshake in progress: its timer and its sockets, so that `stop()` can drop it. */
interface Pending {
  timer: Subscription | undefined;
  secure: TLSSocket | undefined;
  readonly raw: Socket;
}

class ServerTlsHandshakes implements ServerTls {
  private contexts: ServerContexts | undefined;
  /** Handshakes waiting for an Observable's first credentials. */
  private waiting: (() => void)[] = [];
  private readonly pending = new Set<Pending>();
  private readonly subscriptions: Subscription[] = [];
  private readonly settings: ContextSettings;
  private readonly alpn: readonly string[] | undefined;
  private readonly requestCert: boolean;
  private readonly scheduler: SchedulerLike;

  constructor(
    private readonly endpoint: TlsServerEndpoint,
    private readonly options: TlsListenOptions,
  ) {
    this.settings = {
      minVersion: options.minVersion ?? endpoint.minVersion,
      ...(options.ca === undefined ? {} : { ca: options.ca }),
    };
    this.alpn = options.alpn ?? endpoint.alpn;
    this.requestCert = options.requestCert ?? false;
    this.scheduler = options.scheduler ?? asyncScheduler;
    const source = options.tls;
    if (isObservable(source)) {
      // A first value given at once that cannot be used fails the listen, as bad files do; later
      // ones are reloads. (A throw inside `next` would not reach the caller: RxJS reports it.)
      let subscribing = true;
      let unusable: unknown;
      const subscription = source.subscribe({
        next: (credentials) => {
          if (subscribing && this.contexts === undefined) {
            try {
              this.use(serverContextsOf(credentials, this.settings));
            } catch (error: unknown) {
              unusable = error;
            }
          } else {
            this.reload(() => credentials);
          }
        },
        error: (error: unknown) => this.report(error),
      });
      subscribing = false;
      this.subscriptions.push(subscription);
      if (this.contexts === undefined && unusable !== undefined) {
        subscription.unsubscribe();
        throw unusable;
      }
    } else {
      this.use(serverContextsOf(source ?? readEndpointCredentials(endpoint), this.settings));
      if (options.reloadTls !== undefined) {
        this.subscriptions.push(
          options.reloadTls.subscribe(() =>
            this.reload(() => readEndpointCredentials(this.endpoint)),
          ),
        );
      }
    }
  }

  accept(raw: Socket, timeout: number, done: TlsAccepted): void {
    const pending: Pending = { timer: undefined, secure: undefined, raw };
    this.pending.add(pending);
    const finish: TlsAccepted = (error, secure, info) => {
      if (!this.pending.delete(pending)) return;
      pending.timer?.unsubscribe();
      if (error !== undefined) {
        pending.secure?.destroy();
      }
      done(error, secure, info);
    };
    if (timeout > 0 && timeout !== Infinity) {
      pending.timer = this.scheduler.schedule(() => {
        this.waiting = this.waiting.filter((start) => start !== begin);
        finish(new HandshakeTimeoutError('tls', timeout), undefined);
      }, timeout);
    }
    const begin = (): void => {
      if (!this.pending.has(pending)) return;
      // A peer may leave while it waits for the first credentials: no handshake on a dead socket.
      if (raw.destroyed) finish(new TlsError(undefined, { cause: peerClosed() }), undefined);
      else this.handshake(pending, this.contexts!, finish);
    };
    if (this.contexts === undefined) {
      this.waiting.push(begin);
    } else {
      begin();
    }
  }

  stop(): void {
    for (const subscription of this.subscriptions) subscription.unsubscribe();
    this.waiting = [];
    for (const pending of this.pending) {
      pending.timer?.unsubscribe();
      pending.secure?.destroy();
    }
    this.pending.clear();
  }

  /** One handshake, with the contexts current when it starts. */
  private handshake(pending: Pending, contexts: ServerContexts, finish: TlsAccepted): void {
    const secure = serverTlsSocket(pending.raw, contexts, {
      alpn: this.alpn,
      requestCert: this.requestCert,
    });
    pending.secure = secure;
    const requestCert = this.requestCert;
    function onSecure(): void {
      stopWatching();
      let authorized = false;
      if (requestCert) {
        const refused = clientCertificateError(secure);
        if (refused !== undefined) {
          finish(refused, undefined);
          return;
        }
        authorized = true;
      }
      resetsUnder(secure, pending.raw);
      finish(undefined, secure, tlsInfoOf(secure, authorized));
    }
    function onError(error: Error): void {
      stopWatching();
      finish(new TlsError(undefined, { cause: error }), undefined);
    }
    /** The peer closed (FIN or a close) before the handshake finished: Node reports nothing. */
    function onGone(): void {
      stopWatching();
      finish(new TlsError(undefined, { cause: peerClosed() }), undefined);
    }
    function stopWatching(): void {
      secure.off('secure', onSecure);
      secure.off('error', onError);
      secure.off('end', onGone);
      secure.off('close', onGone);
    }
    secure.on('secure', onSecure);
    secure.on('error', onError);
    secure.on('end', onGone);
    secure.on('close', onGone);
  }

  private use(contexts: ServerContexts): void {
    this.contexts = contexts;
    const waiting = this.waiting;
    this.waiting = [];
    for (const begin of waiting) begin();
  }

  private reload(read: () => TlsCredentials): void {
    let contexts: ServerContexts;
    try {
      contexts = serverContextsOf(read(), this.settings);
    } catch (error: unknown) {
      this.report(error);
      return;
    }
    this.use(contexts);
  }

  private report(cause: unknown): void {
    const error = new TlsError(
      `TLS reload failed; the server keeps its current credentials${describe(cause)}`,
      { cause },
    );
    if (this.options.onTlsReloadError === undefined) {
      // By name and code rather than the error itself: Node accepts only an Error of its own realm.
      process.emitWarning(error.message, { type: error.name, code: error.code });
    } else {
      this.options.onTlsReloadError(error);
    }
  }
}

/**
 * Makes `abort()` reset a TLS connection as it does a TCP one. A TLSSocket inherits
 * `resetAndDestroy()`, which throws because its handle is the TLS layer, not TCP's. Resetting the
 * TCP socket under it directly would close the handle the TLS layer still uses (a crash in
 * Node 20); instead the TCP socket is marked as Node's own `resetAndDestroy()` marks it, and
 * destroying the TLS socket then closes the TCP one with a RST, once. Should Node drop the mark,
 * an abort becomes a plain close, never a crash.
 *
 * @internal
 */
export function resetsUnder(secure: TLSSocket, raw: Socket): void {
  Object.defineProperty(secure, 'resetAndDestroy', {
    configurable: true,
    value: function resetAndDestroy(): TLSSocket {
      (raw as Socket & { resetAndClosing?: boolean }).resetAndClosing = true;
      secure.destroy();
      return secure;
    },
  });
}

function describe(cause: unknown): string {
  // Not `instanceof Error`: Node's own errors may come from another realm (a vm, jest).
  const message = (cause as { message?: unknown } | null | undefined)?.message;
  return typeof message === 'string' ? `: ${message}` : '';
}
