import { Observable } from 'rxjs';
import {
  codecOf,
  serveConnections,
  type ServeConnectionsOptions,
  type ServerOutput,
} from '../transport/serveConnections';
import type { Address, Behaviour, Output } from '../types';
import { serverFromString, type ServerEndpoint } from './endpoints';
import { listen, type ListenOptions } from './listen';

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

/** Options of {@link serve}: those of {@link listen}, plus `framing` (or `decode` and `encode`). */
export type ServeOptions<T, O> = ListenOptions & ServeConnectionsOptions<T, O>;

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
 * Unsubscribing stops listening and ends every connection gracefully.
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
 * when the endpoint cannot be bound, and when the behaviour itself fails; a connection's failure
 * is only ever its `connectionLost` event.
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
  return new Observable<ServerNotification<T>>((subscriber) => {
    const onListening = options.onListening;
    const connections$ = listen(endpoint, {
      ...options,
      onListening(address) {
        onListening?.(address);
        subscriber.next({ type: 'listening', address });
      },
    });
    return serveConnections<T, O>(connections$, behaviour, options).subscribe(subscriber);
  });
}
