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
 * EADDRINUSE (Twisted's `lockfile` handling is not reproduced).
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
 * EACCES.
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
    const server = createServer({ pauseOnConnect: true, noDelay: options.noDelay ?? false });
    const connections = new Set<Connection>();
    let sharedLocal: Address | undefined;
    let nextId = 1;

    function onError(error: Error): void {
      subscriber.error(new ListenError(label, { cause: error }));
    }
    function onListening(): void {
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
