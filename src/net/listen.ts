import { chmodSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Observable, type Subscription } from 'rxjs';
import { ListenError } from '../errors';
import { checkDelay } from '../transport/connection/options';
import {
  checkConnectionOptions,
  fromServerDuplex,
  type ConnectionInfo,
  type ConnectionOptions,
} from '../transport/fromDuplex';
import type { Address, Connection, ConnectionRefused } from '../types';
import {
  admissionOf,
  checkAdmissionOptions,
  type Admission,
  type AdmissionOptions,
} from './admission';
import { checkServerThrottle, type ServerThrottleOptions } from '../transport/connection/throttle';
import { acceptedInfo, serverAddress, sharedLocalAddress } from './addresses';
import {
  boundEndpoint,
  describeEndpoint,
  serverFromString,
  type ServerEndpoint,
} from './endpoints';
import {
  connectionOpened,
  connectionRefused,
  serverListening,
} from '../observability/connectionDiagnostics';
import { readProxyHeader } from './proxy/readProxyHeader';
import {
  checkTlsListenOptions,
  serverTlsOf,
  type ServerTls,
  type TlsListenOptions,
} from './tls/serverTls';

/**
 * How long a peer has, from being accepted, for each step before its connection is made: sending
 * its PROXY header, finishing the TLS handshake. A peer that dawdles (a slowloris on the
 * handshake) is refused with a {@link HandshakeTimeoutError}.
 *
 * @defaultValue 10000 (milliseconds)
 */
export const DEFAULT_HANDSHAKE_TIMEOUT = 10_000;

/** Options of {@link listen}: each accepted connection's limits, plus the server's own. */
export interface ListenOptions
  extends ConnectionOptions, AdmissionOptions, ServerThrottleOptions, TlsListenOptions {
  /**
   * How long the PROXY header and the TLS handshake may each take, in milliseconds; `0` or
   * `Infinity` for no limit. A negative value is a `TypeError` and a finite value above 2^31−1 a
   * `RangeError`, at call time.
   *
   * @defaultValue {@link DEFAULT_HANDSHAKE_TIMEOUT} (10000)
   */
  readonly handshakeTimeout?: number;
  /**
   * Its first emission stops accepting: the listening socket closes and the stream completes, while
   * the connections already accepted go on (a graceful shutdown ends them; see `serve`'s
   * `shutdown`). Peers waiting for a slot, or still in their handshake, are refused.
   */
  readonly stopAccepting?: Observable<unknown>;
  /** Called for each peer turned away before a connection was made (a limit, a bad handshake). */
  readonly onRefused?: (refusal: ConnectionRefused) => void;
  /**
   * Called once the endpoint is bound, with its address: with port 0, the port the kernel chose.
   * `listen` emits only connections, so the address comes this way; `serve` emits it as its first
   * notification instead.
   */
  readonly onListening?: (address: Address) => void;
  /** Disables Nagle's algorithm on accepted TCP sockets. @defaultValue `false` (Node's default) */
  readonly noDelay?: boolean;
}

/**
 * The `accept()` failures that leave the listening socket usable: a lack of descriptors, buffers
 * or memory, or one peer that went away (or was refused by a firewall rule) before it was
 * accepted. Node reports them with `syscall: 'accept'`; none of them is a fault of the socket.
 */
const TRANSIENT_ACCEPT_ERRORS: ReadonlySet<string> = new Set([
  'EMFILE',
  'ENFILE',
  'ENOBUFS',
  'ENOMEM',
  'ECONNABORTED',
  'EAGAIN',
  'EPROTO',
  'EPERM',
]);

/**
 * Listens on an endpoint: each accepted connection is one emission (Twisted's
 * `serverFromString(...).listen(factory)`, with the factory's `buildProtocol` as the stream).
 *
 * ```text
 * subscribe:   ^-----------------!
 * listen(ep):  ---a-----b--------    bound at ^, each letter an accepted Connection
 * ```
 *
 * The Observable is the listening socket: subscribing binds, unsubscribing stops listening and
 * ends the connections it accepted gracefully (their pending output is flushed, then FIN). Each
 * connection is a {@link fromDuplex} Connection with ids from 1, so one bad peer stays its own
 * problem: its error ends its `closed$`, never this stream. Reading starts only when something
 * subscribes to the connection's `data$` (sockets are accepted paused). A Unix socket's file is
 * removed when listening stops; a stale file left by a crashed process makes the bind fail with
 * EADDRINUSE (Twisted's `lockfile` handling is not reproduced). Accepted sockets allow half-open
 * use: the connection itself decides what the peer's FIN means (see `halfOpenTimeout`).
 *
 * Errors after bind: an `'error'` of the listening socket before it is bound is a bind failure;
 * after that, it is sorted by code. A failed `accept()` that says the process or the kernel is
 * short of something for the moment, or that one peer left or was refused before it was accepted
 * (EMFILE, ENFILE, ENOBUFS, ENOMEM, ECONNABORTED, EAGAIN, EPROTO, EPERM), is dropped: it costs that
 * pending connection at most, the connections already accepted keep being served, and the
 * listening socket accepts again once the resource is free. Any other error after bind fails the
 * stream with a {@link ListenError} whose `cause` is Node's error, and stops listening as an
 * unsubscribe would. On Linux, Node 20 does not even report descriptor exhaustion: libuv closes a
 * spare descriptor, accepts the waiting connections and closes them at once (their peers see the
 * connection end), then keeps listening.
 *
 * ## Example
 * ```ts
 * import { listen } from 'rxnet';
 *
 * listen('tcp:port=0:interface=127.0.0.1', {
 *   onListening: (address) => console.log('listening on', address),
 * }).subscribe((connection) => connection.data$.subscribe((chunk) => connection.write(chunk)));
 * ```
 *
 * @param endpoint A server description in Twisted's grammar (`tcp:8007`, `unix:/tmp/x.sock`), or
 * a parsed {@link ServerEndpoint}.
 * @param options Per-connection limits, the idle timeout and the `onListening` callback.
 * @returns An Observable of accepted connections. Fails with {@link ListenError} (naming the
 * endpoint, with Node's error as `cause`) when the endpoint cannot be bound, e.g. EADDRINUSE or
 * EACCES, or when the listening socket fails later with an error that is not transient (see
 * "Errors after bind").
 * @throws {@link InvalidEndpointError} at call time for a bad description, and TypeError for
 * contradictory limits.
 * @see {@link serve}
 */
export function listen(
  endpoint: string | ServerEndpoint,
  options: ListenOptions = {},
): Observable<Connection> {
  const parsed = typeof endpoint === 'string' ? serverFromString(endpoint) : endpoint;
  const label = typeof endpoint === 'string' ? endpoint : describeEndpoint(parsed);
  const limits = checkConnectionOptions(options);
  const admissionLimits = checkAdmissionOptions(options);
  const serverThrottle = checkServerThrottle(options, limits.scheduler);
  const bound = boundEndpoint(parsed);
  const proxied = parsed.type === 'haproxy';
  const tlsEndpoint =
    parsed.type === 'tls'
      ? parsed
      : parsed.type === 'haproxy' && parsed.inner.type === 'tls'
        ? parsed.inner
        : undefined;
  checkTlsListenOptions(tlsEndpoint, options);
  const handshakeTimeout = checkDelay(
    'handshakeTimeout',
    options.handshakeTimeout,
    DEFAULT_HANDSHAKE_TIMEOUT,
  );
  return new Observable<Connection>((subscriber) => {
    let tls: ServerTls | undefined;
    if (tlsEndpoint !== undefined) {
      try {
        tls = serverTlsOf(tlsEndpoint, options);
      } catch (error: unknown) {
        subscriber.error(new ListenError(label, { cause: error }));
        return undefined;
      }
    }
    const admission: Admission | undefined = admissionOf(admissionLimits);
    const sharedThrottle = serverThrottle?.();
    const server = createServer({
      allowHalfOpen: true,
      pauseOnConnect: true,
      noDelay: options.noDelay ?? false,
    });
    const connections = new Set<Connection>();
    /** Sockets accepted but not yet connections: reading a PROXY header, in a TLS handshake. */
    const handshaking = new Set<Socket>();
    let sharedLocal: Address | undefined;
    /** The bound address, for diagnostics. */
    let listening: Address | undefined;
    let nextId = 1;
    let isBound = false;
    let stopSubscription: Subscription | undefined;
    let stopped = false;
    /** Stopped by `stopAccepting`: the connections are the graceful shutdown's to end, not ours. */
    let handedOver = false;

    function onError(error: NodeJS.ErrnoException): void {
      // Before 'listening' every error is a bind failure. After it, libuv keeps polling the
      // listening handle whatever accept() answered, so a transient failure needs no retry here.
      if (isBound && error.code !== undefined && TRANSIENT_ACCEPT_ERRORS.has(error.code)) {
        return;
      }
      subscriber.error(new ListenError(label, { cause: error }));
    }
    function onListening(): void {
      isBound = true;
      if (bound.type === 'unix' && bound.mode !== undefined) {
        try {
          chmodSync(bound.path, bound.mode);
        } catch (error: unknown) {
          subscriber.error(new ListenError(label, { cause: error }));
          return;
        }
      }
      sharedLocal = sharedLocalAddress(server, bound);
      listening = serverAddress(server, bound);
      serverListening(listening);
      options.onListening?.(listening);
    }
    function onConnection(socket: Socket): void {
      if (admission === undefined) {
        admitted(socket);
      } else {
        admission.offer(socket, admitted, refusedByLimit);
      }
    }
    /** The plain path costs nothing more than it did before handshakes existed. */
    function admitted(socket: Socket): void {
      if (!proxied && tls === undefined) {
        emit(socket, acceptedInfo(nextId, socket, bound, sharedLocal));
        return;
      }
      handshaking.add(socket);
      const info = acceptedInfo(0, socket, bound, sharedLocal);
      if (proxied) {
        readProxyHeader(socket, handshakeTimeout, (error, header) => {
          if (error !== undefined) {
            refuse(socket, info.remote, error);
            return;
          }
          const proxiedInfo =
            header === undefined
              ? { remote: info.remote, local: info.local }
              : { remote: header.source, local: header.destination };
          secure(socket, proxiedInfo);
        });
      } else {
        secure(socket, { remote: info.remote, local: info.local });
      }
    }
    function secure(socket: Socket, peer: { remote: Address; local: Address }): void {
      if (tls === undefined) {
        handshaking.delete(socket);
        emit(socket, { id: nextId, ...peer }, socket);
        return;
      }
      tls.accept(socket, handshakeTimeout, (error, secureSocket, tlsInfo) => {
        if (error !== undefined || secureSocket === undefined) {
          refuse(socket, peer.remote, error!);
          return;
        }
        handshaking.delete(socket);
        emit(secureSocket, { id: nextId, ...peer, tls: tlsInfo }, socket);
      });
    }
    function emit(duplex: Duplex, info: ConnectionInfo, raw: Socket = duplex as Socket): void {
      // The connection keeps itself in `connections` until it closes.
      const connection = fromServerDuplex(duplex, info, limits, connections, sharedThrottle);
      nextId += 1;
      if (admission !== undefined) {
        connection.closed$.subscribe(() => admission.release(raw));
      }
      connectionOpened(connection, 'server', raw, listening);
      subscriber.next(connection);
    }
    function refuse(socket: Socket, remote: Address, error: ConnectionRefused['error']): void {
      handshaking.delete(socket);
      socket.destroy();
      admission?.release(socket);
      options.counters?.countRefusal(error);
      connectionRefused(remote, error, listening);
      options.onRefused?.({ type: 'connectionRefused', remote, error });
    }
    function refusedByLimit(socket: Socket, error: ConnectionRefused['error']): void {
      const info = acceptedInfo(0, socket, bound, sharedLocal);
      options.counters?.countRefusal(error);
      connectionRefused(info.remote, error, listening);
      options.onRefused?.({ type: 'connectionRefused', remote: info.remote, error });
    }
    /** A bind failure is emitted on the next tick, possibly after an early unsubscribe. */
    function onClosed(): void {
      server.off('error', onError);
    }
    function stopListening(): void {
      if (stopped) return;
      stopped = true;
      server.off('listening', onListening);
      server.off('connection', onConnection);
      server.close(onClosed);
      tls?.stop();
      admission?.stop();
      for (const socket of handshaking) socket.destroy();
      handshaking.clear();
    }

    server.on('error', onError);
    server.on('listening', onListening);
    server.on('connection', onConnection);
    if (bound.type === 'tcp') {
      server.listen({
        port: bound.port,
        host: bound.interface || '0.0.0.0',
        backlog: bound.backlog,
      });
    } else {
      server.listen({ path: bound.path, backlog: bound.backlog });
    }
    if (options.stopAccepting !== undefined) {
      stopSubscription = options.stopAccepting.subscribe({
        next: () => {
          stopSubscription?.unsubscribe();
          handedOver = true;
          stopListening();
          subscriber.complete();
        },
        // A failing trigger fails the listen, as the source of a stream's failure should.
        error: (error: unknown) => subscriber.error(error),
      });
    }

    return () => {
      stopSubscription?.unsubscribe();
      stopListening();
      if (!handedOver) {
        for (const connection of connections) {
          connection.end();
        }
      }
    };
  });
}
