import type { Observable } from 'rxjs';
import type { Address, CloseReason, ConnectionId, ConnectionMade } from '../types';

/**
 * What a per-connection protocol sees of its one connection: who it is, its frames, and its close.
 *
 * `C` is the `connectionMade` event as the server's pipeline has it where {@link protocol} runs:
 * after `countConnections()` it carries `count`, with its type checked. That is one of the places
 * where per-connection logic meets server-wide state.
 */
export interface ProtocolContext<T, C extends ConnectionMade = ConnectionMade> {
  /** The connection this instance serves. */
  readonly id: ConnectionId;
  /** This end's address (Twisted's `getHost()`). */
  readonly local: Address;
  /** The peer's address (Twisted's `getPeer()`). */
  readonly remote: Address;
  /** The event that started this instance, with whatever the operators before it added. */
  readonly made: C;
  /**
   * The connection's frames (`dataReceived`), multicast. Completes at the peer's FIN (Twisted's
   * `readConnectionLost`): the protocol may still reply, and its completion then closes the
   * connection. Under `runProtocol` it fails with a decoder's error (bad input); when the
   * connection closes it just stops, and `closed$` says why.
   */
  readonly frames$: Observable<T>;
  /**
   * Emits the {@link CloseReason} when the connection closes while the protocol still runs, then
   * completes; the protocol is unsubscribed right after, so this is the place to fail what waits
   * for the connection (a requester's pending requests do). Anything emitted then is dropped.
   */
  readonly closed$: Observable<CloseReason>;
}

/**
 * A message a per-connection protocol hands to the rest of the server, rather than writing it to
 * its own connection: made by {@link forward}.
 */
export class Forwarded<M> {
  constructor(
    /** The message, which continues down the server's pipeline as this connection's `data`. */
    readonly message: M,
  ) {}
}

/**
 * Marks a value of a per-connection protocol's output as a message for the server's shared
 * operators instead of a write to its own connection.
 *
 * Under {@link protocol} it continues down the pipeline as a `data` event of this connection, so
 * `broadcast()`, `closeOn()` or any server-wide operator after `protocol()` sees the protocol's
 * messages rather than the raw frames: a chat forwards `"bob: hi"` once it knows the nick, and
 * `broadcast()` relays it to the room. Under {@link runProtocol} it is emitted by the returned
 * Observable.
 *
 * ## Example
 * ```ts
 * import { map } from 'rxjs';
 * import { broadcast, forward, protocol, type Behaviour } from 'rxnet';
 *
 * const room: Behaviour<string, string> = (events) =>
 *   events.pipe(
 *     protocol((conn) => conn.frames$.pipe(map((line) => forward(`${conn.id}: ${line}`)))),
 *     broadcast(),
 *   );
 * ```
 *
 * @param message What the rest of the server receives.
 * @returns The message, marked.
 */
export function forward<M>(message: M): Forwarded<M> {
  return new Forwarded(message);
}

/**
 * A protocol written as a function of one connection: called once per connection, it returns what
 * to write (values of `O`) and what to forward (see {@link forward}). Its completion closes the
 * connection; its error aborts it with the error as reason.
 */
export type PerConnection<T, O, M = never, C extends ConnectionMade = ConnectionMade> = (
  conn: ProtocolContext<T, C>,
) => Observable<O | Forwarded<M>>;
