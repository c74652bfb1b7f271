import { chmodSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { Observable } from 'rxjs';
import { ListenError } from '../errors';
import {
  checkConnectionOptions,
  fromServerDuplex,
  type ConnectionOptions,
} from '../transport/fromDuplex';
import type { Address, Connection } from '../types';
import { acceptedInfo, serverAddress, sharedLocalAddress } from './addresses';
import { describeEndpoint, serverFromString, type ServerEndpoint } from './endpoints';

/** Options of {@link listen}: each accepted connection's limits, plus the server's own. */
export interface ListenOptions extends ConnectionOptions {
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
  return new Observable<Connection>((subscriber) => {
    const server = createServer({
      allowHalfOpen: true,
      pauseOnConnect: true,
      noDelay: options.noDelay ?? false,
    });
    const connections = new Set<Connection>();
    let sharedLocal: Address | undefined;
    let nextId = 1;
    let bound = false;

    function onError(error: NodeJS.ErrnoException): void {
      // Before 'listening' every error is a bind failure. After it, libuv keeps polling the
      // listening handle whatever accept() answered, so a transient failure needs no retry here.
      if (bound && error.code !== undefined && TRANSIENT_ACCEPT_ERRORS.has(error.code)) {
        return;
      }
      subscriber.error(new ListenError(label, { cause: error }));
    }
    function onListening(): void {
      bound = true;
      if (parsed.type === 'unix' && parsed.mode !== undefined) {
        try {
          chmodSync(parsed.path, parsed.mode);
        } catch (error: unknown) {
          subscriber.error(new ListenError(label, { cause: error }));
          return;
        }
      }
      sharedLocal = sharedLocalAddress(server, parsed);
      options.onListening?.(serverAddress(server, parsed));
    }
    function onConnection(socket: Socket): void {
      // The connection keeps itself in `connections` until it closes.
      const connection = fromServerDuplex(
        socket,
        acceptedInfo(nextId, socket, parsed, sharedLocal),
        limits,
        connections,
      );
      nextId += 1;
      subscriber.next(connection);
    }
    /** A bind failure is emitted on the next tick, possibly after an early unsubscribe. */
    function onClosed(): void {
      server.off('error', onError);
    }

    server.on('error', onError);
    server.on('listening', onListening);
    server.on('connection', onConnection);
    if (parsed.type === 'tcp') {
      server.listen({
        port: parsed.port,
        host: parsed.interface || '0.0.0.0',
        backlog: parsed.backlog,
      });
    } else {
      server.listen({ path: parsed.path, backlog: parsed.backlog });
    }

    return () => {
      server.off('listening', onListening);
      server.off('connection', onConnection);
      server.close(onClosed);
      for (const connection of connections) {
        connection.end();
      }
    };
  });
}
