import { connect as netConnect, type Socket } from 'node:net';
import { Observable, asyncScheduler, type Subscription } from 'rxjs';
import { ConnectError, IdleTimeoutError } from '../errors';
import {
  checkConnectionOptions,
  fromDuplex,
  type ConnectionOptions,
} from '../transport/fromDuplex';
import { connectionOf } from '../internal/connectionOf';
import type { ClientEvent, Connection } from '../types';
import { socketAddresses } from './addresses';
import { clientFamily, clientFromString, describeEndpoint, type ClientEndpoint } from './endpoints';

/** Options of {@link connect} and {@link connectEvents}. */
export interface ConnectOptions extends ConnectionOptions {
  /** Overrides the endpoint's connect timeout; milliseconds. */
  readonly connectTimeout?: number;
  /** Disables Nagle's algorithm on the socket. @defaultValue `false` (Node's default) */
  readonly noDelay?: boolean;
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
 * and piped through {@link reconnect} (with `resetWhen` picking `connected`) it becomes the
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
 *   .pipe(reconnect({ resetWhen: (event) => event.type === 'connected' }))
 *   .subscribe((event) => console.log(event.type));
 * ```
 *
 * @param endpoint A client description in Twisted's grammar (`tcp:localhost:8007`,
 * `unix:/tmp/x.sock`) or a parsed {@link ClientEndpoint}. `tcp:` connects over IPv4 unless the
 * host is an IPv6 literal, like Twisted's `TCP4ClientEndpoint`, so `localhost` reaches a server
 * bound to IPv4.
 * @param options Connection limits and the connect timeout.
 * @returns A cold Observable: each subscription is one attempt.
 * @throws {@link InvalidEndpointError} at call time for a bad description.
 * @see {@link connect}
 */
export function connectEvents(
  endpoint: string | ClientEndpoint,
  options: ConnectOptions = {},
): Observable<ClientEvent<ClientEndpoint>> {
  const parsed = typeof endpoint === 'string' ? clientFromString(endpoint) : endpoint;
  const label = typeof endpoint === 'string' ? endpoint : describeEndpoint(parsed);
  const timeout = options.connectTimeout ?? parsed.timeout * 1000;
  const scheduler = options.scheduler ?? asyncScheduler;
  checkConnectionOptions(options);
  return new Observable<ClientEvent<ClientEndpoint>>((subscriber) => {
    let connecting = true;
    let connection: Connection | undefined;
    let timer: Subscription | undefined;
    let closedSubscription: Subscription | undefined;
    subscriber.next({ type: 'connecting', endpoint: parsed });
    const socket =
      parsed.type === 'tcp'
        ? netConnect({
            host: parsed.host,
            port: parsed.port,
            family: clientFamily(parsed),
            noDelay: options.noDelay ?? false,
            ...(parsed.bindAddress === undefined ? {} : { localAddress: parsed.bindAddress }),
          })
        : netConnect({ path: parsed.path });

    function fail(cause: unknown): void {
      stopConnecting();
      socket.destroy();
      subscriber.next({ type: 'failed', error: new ConnectError(label, { cause }) });
      subscriber.complete();
    }
    function onConnectError(error: Error): void {
      fail(error);
    }
    function onConnect(): void {
      const info = { id: 1, ...socketAddresses(socket as Socket, parsed, 'client') };
      // fromDuplex adds its own error listener before ours goes: the socket is never unguarded.
      const opened = fromDuplex(socket, info, options);
      stopConnecting();
      connection = opened;
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
      socket.off('connect', onConnect);
    }

    socket.on('error', onConnectError);
    socket.on('connect', onConnect);
    if (timeout > 0) {
      timer = scheduler.schedule(() => fail(new IdleTimeoutError(timeout)), timeout);
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
 * The peer's FIN is read like any other bytes, so a client notices that the server closed only
 * while something subscribes to `data$` (unread bytes wait in the socket, by design); a client
 * that only writes should still subscribe to `data$`, even to ignore it.
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
 * @param options Connection limits and the connect timeout.
 * @returns An Observable of one Connection. Fails with {@link ConnectError} (naming the endpoint,
 * with the cause: Node's ECONNREFUSED or ENOTFOUND, or an {@link IdleTimeoutError} for a timeout)
 * when the connection cannot be made.
 * @throws {@link InvalidEndpointError} at call time for a bad description.
 * @see {@link connectEvents}
 */
export function connect(
  endpoint: string | ClientEndpoint,
  options: ConnectOptions = {},
): Observable<Connection> {
  return connectionOf(connectEvents(endpoint, options));
}
