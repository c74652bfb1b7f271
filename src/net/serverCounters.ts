import type { ConnectionLimit } from '../errors';
import type { ConnectionRefused } from '../types';

/**
 * Why a server turned a peer away before its connection was made: one of the limits (a
 * {@link ConnectionLimitError}'s `limit`), a bad PROXY header (`proxy`), a failed TLS handshake
 * (`tls`), or a PROXY header or TLS handshake that took longer than `handshakeTimeout`.
 */
export type RefusalReason = ConnectionLimit | 'proxy' | 'tls' | 'handshakeTimeout';

/**
 * What a server has done with the peers it accepted, as plain numbers that a metrics exporter can
 * read at any time (Twisted's `Factory.numProtocols`, grown into the figures an edge needs).
 *
 * Pass one to `listen` or `serve` as `counters`; the server updates it in place and never replaces
 * it, so reading it costs nothing and keeping it costs one object.
 *
 * - `accepted`: every socket the listening socket accepted, whatever became of it;
 * - `open`: admitted and not yet closed (a connection, or a peer still in its PROXY or TLS
 *   handshake);
 * - `waiting`: accepted past `maxConnections` and held, unread, until a slot frees
 *   (`whenFull: 'wait'`);
 * - `refused`: turned away before a connection was made, in total, and by reason in `refusedBy`.
 *   Each refusal is also a `connectionRefused` event.
 *
 * So `accepted === open + waiting + refused + (connections that have closed)`.
 *
 * ## Example
 * ```ts
 * import { ServerCounters, serve, echo } from 'rxnet';
 *
 * const counters = new ServerCounters();
 * serve('tcp:8007', echo(), { maxConnectionsPerPeer: 16, counters }).subscribe();
 * setInterval(() => console.log(counters.open, 'open,', counters.refused, 'refused'), 10_000);
 * ```
 */
export class ServerCounters {
  /** Sockets accepted by the listening socket: admitted, waiting or refused. */
  accepted = 0;
  /** Admitted and not yet closed. */
  open = 0;
  /** Held past `maxConnections` until a slot frees. */
  waiting = 0;
  /** Turned away before a connection was made: the sum of `refusedBy`. */
  refused = 0;
  /** Refusals by reason. */
  readonly refusedBy: Record<RefusalReason, number> = {
    maxConnections: 0,
    maxConnectionsPerPeer: 0,
    peerAcceptRate: 0,
    shutdown: 0,
    proxy: 0,
    tls: 0,
    handshakeTimeout: 0,
  };

  /** Counts one refusal under the reason its error names. Called by the server. */
  countRefusal(error: ConnectionRefused['error']): void {
    this.refused += 1;
    this.refusedBy[refusalReasonOf(error)] += 1;
  }
}

/** The reason a refusal's error stands for. @internal */
export function refusalReasonOf(error: ConnectionRefused['error']): RefusalReason {
  switch (error.code) {
    case 'RXNET_ERR_CONNECTION_LIMIT':
      return error.limit;
    case 'RXNET_ERR_PROXY_PROTOCOL':
      return 'proxy';
    case 'RXNET_ERR_TLS':
      return 'tls';
    case 'RXNET_ERR_HANDSHAKE_TIMEOUT':
      return 'handshakeTimeout';
  }
}
