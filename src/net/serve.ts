import { EMPTY, Observable, catchError, merge, share } from 'rxjs';
import {
  codecOf,
  serveConnections,
  type ServeConnectionsOptions,
  type ServerOutput,
} from '../transport/serveConnections';
import type { Address, Behaviour, Connection, ConnectionRefused, Output } from '../types';
import { serverFromString, type ServerEndpoint } from './endpoints';
import { listen, type ListenOptions } from './listen';
import { tlsUpgrader, type StartTlsOptions } from './tls/startTls';

/** The server is bound; with port 0, `address` holds the port the kernel chose. */
export interface Listening {
  /** Tells it apart from the server's events. */
  readonly type: 'listening';
  /** Where the server is bound. */
  readonly address: Address;
}

/**
 * What {@link serve} emits: `listening` first, then the events that reach the end of the
 * behaviour (their data of the frame type `T`), and `writeFailed` for a write command that could
 * not be encoded.
 */
export type ServerNotification<T = unknown> = Listening | ServerOutput<T>;

/**
 * Options of {@link serve}: those of {@link listen}, plus `framing` (or `decode` and `encode`) and
 * the graceful shutdown's `shutdown`, `shutdownTimeout` and `shutdownReadWindow`.
 */
export type ServeOptions<T, O> = ListenOptions &
  ServeConnectionsOptions<T, O> & {
    /**
     * The keys (and trust roots, ALPN, handshake timeout) with which a behaviour's `startTls`
     * command upgrades a connection, in the server role; see {@link startTls}. Without it, a
     * `startTls` command aborts its connection with a `StartTlsError`.
     */
    readonly startTls?: StartTlsOptions;
  };

/**
 * Serves a {@link Behaviour} on an endpoint: {@link listen} plus {@link serveConnections}, over
 * real sockets. Twisted's `endpoint.listen(factory)` with the whole protocol as one pipeline.
 *
 * ```text
 * serve(ep, b):  L--m--d--l---    L=listening  m,d,l=events the behaviour lets through
 * ```
 *
 * The first notification is `{ type: 'listening', address }`, so the bound address (the real port
 * when the endpoint asks for port 0) arrives on the same stream as the rest of the server's life,
 * in order, and a test can `await firstValueFrom(server$)` before connecting. The events the
 * behaviour passes through follow; the commands it emits are carried out.
 *
 * Peers that `listen` turns away before a connection is made (a limit, a bad PROXY header, a
 * failed TLS handshake) reach the behaviour as `connectionRefused` events, without an id; the
 * `onRefused` option is still called too.
 *
 * The first emission of `shutdown` (for example {@link shutdownSignals}`()`) shuts the server
 * down gracefully, as {@link serveConnections} describes: `listen` stops accepting at once
 * (it gets the same trigger as `stopAccepting`), the behaviour gets `shuttingDown`, and the
 * connections are read until a full event-loop poll phase has passed, so every byte the kernel
 * had received from a peer when the shutdown began is read and served. (Not on a connection whose
 * own output is held at the high-water mark, which stays paused, nor beyond the 32 reads of
 * 64 KiB that libuv makes from one socket in one poll phase.) Then each connection is flushed and
 * closed with FIN, and at `shutdownTimeout` the rest are aborted. The stream ends with
 * `shutdownComplete` and completes. A second emission aborts what is left at once.
 *
 * Unsubscribing stops listening and ends every connection gracefully, without waiting: the hard
 * stop.
 *
 * ## Example
 * ```ts
 * import { serve, echo } from 'rxnet';
 *
 * serve('tcp:port=8007:interface=127.0.0.1', echo()).subscribe((notification) => {
 *   if (notification.type === 'listening') console.log('listening on', notification.address);
 * });
 * ```
 *
 * @param endpoint A server description in Twisted's grammar, or a parsed {@link ServerEndpoint}.
 * @param behaviour The server's logic.
 * @param options Listen options, connection limits, and `framing` (a {@link Codec} such as
 * `lines()`) or `decode` and `encode`.
 * @returns An Observable that runs the server while subscribed. Fails with {@link ListenError}
 * when the endpoint cannot be bound, and when the behaviour itself or the `shutdown` trigger
 * fails (with that error); a connection's failure is only ever its `connectionLost` event.
 * @throws {@link InvalidEndpointError} at call time for a bad description; `TypeError` for
 * `framing` given with `decode` or `encode`.
 * @see {@link listen}
 * @see {@link serveConnections}
 */
export function serve<T = Buffer, O = Output>(
  endpoint: string | ServerEndpoint,
  behaviour: Behaviour<T, O>,
  options: ServeOptions<T, O> = {},
): Observable<ServerNotification<T>> {
  // Bad descriptions throw here, at call time, as they do from listen().
  if (typeof endpoint === 'string') {
    serverFromString(endpoint);
  }
  codecOf(options);
  // Built once, here, so bad keys throw at call time and every upgrade shares the contexts.
  if (options.startTls !== undefined && options.upgradeTls !== undefined) {
    throw new TypeError('give startTls (the options) or upgradeTls (the function), not both');
  }
  const upgradeTls =
    options.startTls === undefined ? options.upgradeTls : tlsUpgrader(options.startTls, 'server');
  return new Observable<ServerNotification<T>>((subscriber) => {
    // One subscription to the user's trigger for both: serveConnections subscribes first, so the
    // shutdown has begun when listen stops accepting and completes its stream.
    const trigger = options.shutdown?.pipe(share());
    // A failing trigger fails the server through serveConnections; listen only stops on a value.
    const stopOn = trigger?.pipe(catchError(() => EMPTY));
    const stopAccepting =
      stopOn === undefined
        ? options.stopAccepting
        : options.stopAccepting === undefined
          ? stopOn
          : merge(stopOn, options.stopAccepting);
    const connections$ = listenWithRefusals(
      endpoint,
      { ...options, ...(stopAccepting === undefined ? {} : { stopAccepting }) },
      (address) => subscriber.next({ type: 'listening', address }),
    );
    return serveConnections<T, O>(connections$, behaviour, {
      ...options,
      upgradeTls,
      ...(trigger === undefined ? {} : { shutdown: trigger }),
      shutdownReadWindow: options.shutdownReadWindow ?? afterPollPhase(),
    }).subscribe(subscriber);
  });
}

/**
 * {@link listen}, with the peers it turns away (`connectionRefused`) emitted on the same stream as
 * the connections, in order, so that {@link serveConnections} hands them to the behaviour as
 * server-level events; the caller's own `onListening` and `onRefused` are still called.
 *
 * Shared by {@link serve} and `serveClustered`, which feed the same stream to their behaviours.
 *
 * @param endpoint Where to listen, as {@link listen} takes it.
 * @param options {@link listen}'s options.
 * @param listening Called with the bound address, after `options.onListening`.
 * @returns The connections and refusals; subscribing listens, as {@link listen} does.
 * @internal
 */
export function listenWithRefusals(
  endpoint: string | ServerEndpoint,
  options: ListenOptions,
  listening: (address: Address) => void,
): Observable<Connection | ConnectionRefused> {
  const { onListening, onRefused } = options;
  return new Observable<Connection | ConnectionRefused>((source) =>
    listen(endpoint, {
      ...options,
      onListening(address) {
        onListening?.(address);
        listening(address);
      },
      onRefused(refusal) {
        onRefused?.(refusal);
        source.next(refusal);
      },
    }).subscribe(source),
  );
}

/**
 * Emits once a full event-loop poll phase has passed, then completes: every socket the kernel had
 * data for when it was subscribed has been read by then (each readable socket is read in the poll
 * phase, up to libuv's 32 reads of 64 KiB per socket per phase).
 *
 * Two `setImmediate` hops, because one is not always enough: an immediate set during the poll
 * phase (a signal handler runs there) fires in the check phase right after it, before any later
 * poll; the second hop fires only after the next poll phase has run from start to end.
 *
 * @internal
 */
export function afterPollPhase(): Observable<void> {
  return new Observable<void>((subscriber) => {
    let immediate = setImmediate(() => {
      immediate = setImmediate(() => {
        subscriber.next();
        subscriber.complete();
      });
    });
    return () => clearImmediate(immediate);
  });
}
