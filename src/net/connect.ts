import { connect as netConnect, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { Observable, Subscription, asyncScheduler, map } from 'rxjs';
import { ConnectError, ConnectTimeoutError, TlsError } from '../errors';
import {
  DEFAULT_CLIENT_HALF_OPEN_TIMEOUT,
  checkConnectionOptions,
  fromDuplex,
  type ConnectionOptions,
} from '../transport/fromDuplex';
import { connectionOf } from '../internal/connectionOf';
import { connectionOpened } from '../observability/connectionDiagnostics';
import { framed, type FramedConnection } from '../framing/framed';
import type { ClientEvent, Codec, Connection } from '../types';
import { socketAddresses } from './addresses';
import { clientFamily, clientFromString, describeEndpoint, type ClientEndpoint } from './endpoints';
import {
  checkTlsConnectOptions,
  startTlsConnection,
  type TlsConnectOptions,
} from './tls/clientTls';
import { tlsInfoOf } from './tls/tlsInfo';

/** Node's timers hold at most 2^31-1 ms; a longer delay overflows and fires after 1 ms. */
const MAX_TIMER_DELAY = 2 ** 31 - 1;

/** Options of {@link connect} and {@link connectEvents}. */
export interface ConnectOptions extends ConnectionOptions {
  /**
   * How long to wait for the connection, in milliseconds; overrides the endpoint's `timeout`, which
   * is in seconds. `0` or `Infinity` waits for ever. A finite value above 2^31-1 ms (about 24.8
   * days) is a `RangeError` at call time, as Node's timers cannot hold it.
   *
   * @defaultValue the endpoint's `timeout` × 1000 ({@link DEFAULT_CONNECT_TIMEOUT} seconds unless
   * the description says otherwise)
   */
  readonly connectTimeout?: number;
  /** Disables Nagle's algorithm on the socket. @defaultValue `false` (Node's default) */
  readonly noDelay?: boolean;
  /**
   * For `tls:`/`ssl:` endpoints: trust roots, a client certificate, the server name, ALPN and the
   * lowest version, given in memory; each wins over the endpoint's keyword. A `TypeError` on any
   * other endpoint.
   */
  readonly tls?: TlsConnectOptions;
}

/**
 * A client's lifecycle, defined with the model in `src/types.ts`; exported here too, beside
 * {@link connectEvents}, for code that imports the client API from this module.
 */
export type { ClientEvent };

/**
 * One connection attempt's whole life as a stream of {@link ClientEvent}s.
 *
 * ```text
 * connectEvents(ep): c--o--------l|    c=connecting  o=connected  l=lost
 * refused:           c--f|             f=failed
 * ```
 *
 * Where Twisted calls `clientConnectionFailed` and `clientConnectionLost` on a factory, rxnet emits
 * them as values, so a failure is data rather than an error notification: the stream never fails,
 * and piped through {@link reconnect} (whose default resets the backoff on `connected`) it becomes the
 * lifecycle of a reconnecting client, every retry included, on one stream that a UI or a log can
 * follow. Use {@link connect} when only the connection matters.
 *
 * The `connecting` event carries the parsed {@link ClientEndpoint}. Unsubscribing cancels a pending
 * attempt, or ends an open connection gracefully.
 *
 * ## Example
 * ```ts
 * import { connectEvents, reconnect } from 'rxnet';
 *
 * connectEvents('tcp:localhost:8007')
 *   .pipe(reconnect())
 *   .subscribe((event) => console.log(event.type));
 * ```
 *
 * @param endpoint A client description in Twisted's grammar (`tcp:localhost:8007`,
 * `unix:/tmp/x.sock`) or a parsed {@link ClientEndpoint}. `tcp:` connects over IPv4 unless the
 * host is an IPv6 literal, like Twisted's `TCP4ClientEndpoint`, so `localhost` reaches a server
 * bound to IPv4.
 * @param options Connection limits and the connect timeout (milliseconds).
 * @returns A cold Observable: each subscription is one attempt. A timed-out attempt emits `failed`
 * with a {@link ConnectError} whose `cause` is a {@link ConnectTimeoutError}.
 * @throws {@link InvalidEndpointError} at call time for a bad description; `RangeError` for a
 * connect timeout out of range (negative, or finite and above 2^31-1 ms).
 * @see {@link connect}
 */
export function connectEvents(
  endpoint: string | ClientEndpoint,
  options: ConnectOptions = {},
): Observable<ClientEvent<ClientEndpoint>> {
  const parsed = typeof endpoint === 'string' ? clientFromString(endpoint) : endpoint;
  const label = typeof endpoint === 'string' ? endpoint : describeEndpoint(parsed);
  const timeout = connectTimeoutOf(parsed, options);
  checkTlsConnectOptions(parsed.type, options.tls);
  const scheduler = options.scheduler ?? asyncScheduler;
  const connectionOptions: ConnectionOptions = {
    ...options,
    halfOpenTimeout: options.halfOpenTimeout ?? DEFAULT_CLIENT_HALF_OPEN_TIMEOUT,
  };
  checkConnectionOptions(connectionOptions);
  return new Observable<ClientEvent<ClientEndpoint>>((subscriber) => {
    let connecting = true;
    let connection: Connection | undefined;
    let timer: Subscription | undefined;
    let closedSubscription: Subscription | undefined;
    subscriber.next({ type: 'connecting', endpoint: parsed });
    let socket: Socket;
    /** TCP is up: from now on a failure is the TLS handshake's. */
    let tcpConnected = false;
    try {
      socket = openSocket();
    } catch (error: unknown) {
      // A TLS endpoint's key or trust-roots file could not be read.
      subscriber.next({ type: 'failed', error: new ConnectError(label, { cause: error }) });
      subscriber.complete();
      return undefined;
    }
    function openSocket(): Socket {
      return parsed.type === 'tcp'
        ? netConnect({
            host: parsed.host,
            port: parsed.port,
            family: clientFamily(parsed),
            noDelay: options.noDelay ?? false,
            // The connection layer answers the peer's FIN itself, once its output is flushed.
            allowHalfOpen: true,
            ...(parsed.bindAddress === undefined ? {} : { localAddress: parsed.bindAddress }),
          })
        : parsed.type === 'unix'
          ? netConnect({ path: parsed.path, allowHalfOpen: true })
          : startTlsConnection(parsed, options.tls, clientFamily(parsed));
    }

    function fail(cause: unknown): void {
      stopConnecting();
      socket.destroy();
      subscriber.next({ type: 'failed', error: new ConnectError(label, { cause }) });
      subscriber.complete();
    }
    function onConnectError(error: Error): void {
      fail(tcpConnected ? new TlsError(undefined, { cause: error }) : error);
    }
    function onTcpConnect(): void {
      tcpConnected = true;
    }
    function onConnect(): void {
      const secure = parsed.type === 'tls' ? (socket as TLSSocket) : undefined;
      if (secure !== undefined && options.noDelay === true) secure.setNoDelay(true);
      const info = {
        id: 1,
        ...socketAddresses(socket, parsed, 'client'),
        // rejectUnauthorized is always on: a connection that got here was verified.
        ...(secure === undefined ? {} : { tls: tlsInfoOf(secure, true) }),
      };
      // fromDuplex adds its own error listener before ours goes: the socket is never unguarded.
      const opened = fromDuplex(socket, info, connectionOptions);
      stopConnecting();
      connection = opened;
      connectionOpened(opened, 'client', socket);
      subscriber.next({ type: 'connected', connection: opened });
      closedSubscription = opened.closed$.subscribe((reason) => {
        connection = undefined;
        subscriber.next({ type: 'lost', reason });
        subscriber.complete();
      });
    }
    function stopConnecting(): void {
      connecting = false;
      timer?.unsubscribe();
      timer = undefined;
      socket.off('error', onConnectError);
      socket.off(connectEvent, onConnect);
      socket.off('connect', onTcpConnect);
    }

    const connectEvent = parsed.type === 'tls' ? 'secureConnect' : 'connect';
    socket.on('error', onConnectError);
    socket.on(connectEvent, onConnect);
    if (parsed.type === 'tls') socket.on('connect', onTcpConnect);
    if (timeout > 0 && timeout !== Infinity) {
      timer = scheduler.schedule(() => fail(new ConnectTimeoutError(timeout)), timeout);
    }

    return () => {
      closedSubscription?.unsubscribe();
      if (connection !== undefined) {
        connection.end();
      } else if (connecting) {
        stopConnecting();
        socket.destroy();
      }
    };
  });
}

/**
 * Connects to an endpoint: emits the {@link Connection} once connected, and completes when it
 * closes (whatever the reason: read it from `closed$`).
 *
 * ```text
 * connect(ep):  ----c-------|    c=Connection, | when it closes
 * refused:      ----#            #=ConnectError
 * ```
 *
 * Like `listen`, the Observable is the resource: unsubscribing ends the connection gracefully
 * (flush, then FIN), so `take`/`takeUntil` scope a connection's life. Each subscription makes a new
 * attempt, which is what lets {@link reconnect} retry it.
 *
 * Beware `await firstValueFrom(connect(ep))` (and `take(1)`): taking the first value
 * unsubscribes, and unsubscribing ends the connection, so the Connection it returns is already
 * closing. From async code, use
 * {@link connectAsync}, whose connection lives until you end it or an `AbortSignal` fires; in a
 * pipeline, keep the subscription (`switchMap` from `connect`, as below).
 *
 * The peer's FIN is read like any other bytes, so a client notices that the server closed only
 * while something subscribes to `data$` (unread bytes wait in the socket, by design); a client
 * that only writes should still subscribe to `data$`, even to ignore it. At the server's FIN the
 * client's connection ends once its output is flushed (`halfOpenTimeout` defaults to
 * {@link DEFAULT_CLIENT_HALF_OPEN_TIMEOUT}, 0, for clients), as Node's and Twisted's clients do.
 *
 * ## Example
 * ```ts
 * import { of, switchMap } from 'rxjs';
 * import { connect } from 'rxnet';
 *
 * connect('tcp:localhost:8007')
 *   .pipe(switchMap((connection) => connection.send(of('hello\r\n'))))
 *   .subscribe();
 * ```
 *
 * @param endpoint A client description in Twisted's grammar, or a parsed {@link ClientEndpoint}.
 * Its `timeout` is in seconds.
 * @param options Connection limits and the connect timeout (`connectTimeout`, in milliseconds).
 * @returns An Observable of one Connection. Fails with {@link ConnectError} (naming the endpoint,
 * with the cause: Node's ECONNREFUSED or ENOTFOUND, or a {@link ConnectTimeoutError} when the
 * connect timeout passes first) when the connection cannot be made.
 * @throws {@link InvalidEndpointError} at call time for a bad description; `RangeError` for a
 * connect timeout out of range.
 * @see {@link connectAsync} for a Promise of a connection that outlives the `await`.
 * @see {@link connectEvents}
 */
export function connect(
  endpoint: string | ClientEndpoint,
  options?: ConnectOptions,
): Observable<Connection>;
/**
 * With a `framing` codec, the connection comes through {@link framed}: `frames$` gives decoded
 * messages and `write(message)` encodes, with the same codecs a server's `framing` option takes.
 */
export function connect<T, O>(
  endpoint: string | ClientEndpoint,
  options: ConnectOptions & { readonly framing: Codec<T, O> },
): Observable<FramedConnection<T, O>>;
export function connect<T, O>(
  endpoint: string | ClientEndpoint,
  options: ConnectOptions & { readonly framing?: Codec<T, O> } = {},
): Observable<Connection | FramedConnection<T, O>> {
  const { framing, ...connectOptions } = options;
  const connection$ = connectionOf(connectEvents(endpoint, connectOptions));
  return framing === undefined
    ? connection$
    : connection$.pipe(map((connection) => framed(connection, framing)));
}

/** Options of {@link connectAsync}: those of {@link connect}, and a signal to stop with. */
export interface ConnectAsyncOptions extends ConnectOptions {
  /**
   * Before the connection is made, aborting cancels the attempt and rejects with `signal.reason`;
   * after, it ends the connection gracefully (flush, then FIN).
   */
  readonly signal?: AbortSignal;
}

/**
 * Connects to an endpoint and resolves with the {@link Connection}, which stays open after the
 * `await`: until you call `end()` or `abort()`, the peer closes it, or `options.signal` aborts.
 *
 * ```text
 * connectAsync(ep):  ----c       c=resolves with the open Connection
 * refused:           ----#       #=rejects with ConnectError
 * ```
 *
 * `await firstValueFrom(connect(ep))` cannot do this: taking the first value unsubscribes, which
 * ends the connection. `connectAsync` subscribes to {@link connectEvents} and keeps that
 * subscription until the connection closes, so nothing outside the connection decides its life.
 *
 * ## Example
 * ```ts
 * import { connectAsync } from 'rxnet';
 *
 * const controller = new AbortController();
 * const connection = await connectAsync('tcp:localhost:8007', { signal: controller.signal });
 * connection.data$.subscribe((chunk) => console.log(chunk.toString()));
 * connection.write('hello\r\n');
 * // later: controller.abort(), or connection.end()
 * ```
 *
 * @param endpoint A client description in Twisted's grammar (its `timeout` in seconds), or a
 * parsed {@link ClientEndpoint}.
 * @param options Those of {@link connect} (`connectTimeout` in milliseconds), and `signal`.
 * @returns A Promise of the open Connection. Rejects with {@link ConnectError} when the connection
 * cannot be made (refused, unresolved, or timed out: `cause` is then a
 * {@link ConnectTimeoutError}); with `signal.reason` (an `AbortError` unless the signal says
 * otherwise) when the signal aborts before the connection is made, including a signal already
 * aborted; and with {@link InvalidEndpointError} or `RangeError` for bad arguments.
 * @see {@link connect}
 */
export function connectAsync(
  endpoint: string | ClientEndpoint,
  options: ConnectAsyncOptions = {},
): Promise<Connection> {
  const { signal, ...connectOptions } = options;
  return new Promise<Connection>((resolve, reject) => {
    const events$ = connectEvents(endpoint, connectOptions);
    if (signal?.aborted === true) {
      reject(signal.reason);
      return;
    }
    let connection: Connection | undefined;
    // Created first, so that an abort at any moment has an attempt to cancel.
    const subscription = new Subscription();
    function onAbort(): void {
      if (connection === undefined) {
        subscription.unsubscribe();
        reject(signal!.reason);
      } else {
        connection.end();
      }
    }
    function stopListening(): void {
      signal?.removeEventListener('abort', onAbort);
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    subscription.add(
      events$.subscribe((event) => {
        if (event.type === 'connected') {
          connection = event.connection;
          resolve(event.connection);
        } else if (event.type === 'failed') {
          stopListening();
          reject(event.error);
        } else if (event.type === 'lost') {
          stopListening();
        }
      }),
    );
  });
}

/** The connect timeout in milliseconds (0 or Infinity: none), checked at call time. */
function connectTimeoutOf(endpoint: ClientEndpoint, options: ConnectOptions): number {
  const { connectTimeout } = options;
  if (connectTimeout === undefined) {
    const timeout = endpoint.timeout * 1000;
    if (!(timeout >= 0) || (timeout > MAX_TIMER_DELAY && timeout !== Infinity)) {
      throw new RangeError(
        `the endpoint's timeout must be from 0 to ${Math.floor(MAX_TIMER_DELAY / 1000)} seconds, or Infinity; got ${endpoint.timeout}`,
      );
    }
    return timeout;
  }
  if (typeof connectTimeout !== 'number') {
    throw new TypeError(
      `connectTimeout must be a number of milliseconds, got ${typeof connectTimeout}`,
    );
  }
  if (!(connectTimeout >= 0) || (connectTimeout > MAX_TIMER_DELAY && connectTimeout !== Infinity)) {
    throw new RangeError(
      `connectTimeout must be from 0 to ${MAX_TIMER_DELAY} milliseconds (Node's timers overflow beyond), or Infinity; got ${connectTimeout}`,
    );
  }
  return connectTimeout;
}
